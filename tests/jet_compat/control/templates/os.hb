type={{jet_os_type}} flavor={{jet_os_flavor}}
