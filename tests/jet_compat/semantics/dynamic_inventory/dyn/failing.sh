#!/bin/sh
echo "token=hunter2" >&2
exit 4
