#!/bin/bash
# Runs a sandbox test command, or skips it (exit 77) where the sandbox cannot exist: it needs
# root, network namespaces and the commands that scripts/install-deps.sh installs.
if [ "$(id -u)" != 0 ]; then
    echo "SKIP: the sandbox needs root" >&2
    exit 77
fi
exec "$@"
