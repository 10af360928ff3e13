{{jet_os_flavor}} {{jet_os_release_id}}
