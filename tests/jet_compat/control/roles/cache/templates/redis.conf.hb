port {{cache_port}}
maxmemory {{cache_memory}}
# {{jet_os_release_id}}
