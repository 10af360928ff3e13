#!/bin/sh
# A dynamic inventory in Jet's (Ansible's) JSON format.
cat <<'JSON'
{
  "web": {"hosts": ["w1", "w2"], "vars": {"port": 80}, "children": ["edge"]},
  "edge": {"hosts": ["e1"]},
  "_meta": {"hostvars": {"w2": {"port": 8080}}}
}
JSON
