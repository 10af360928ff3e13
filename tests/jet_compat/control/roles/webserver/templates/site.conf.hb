# {{site_name}} on {{jet_os_flavor}} ({{web_package}})
DocumentRoot @OUT@/srv/{{site_name}}
