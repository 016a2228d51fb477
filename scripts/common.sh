# Sourced by the scripts: where shopbot keeps environments and models that
# outlive a checkout (shared by clones and CI runs on one machine).
SHOPBOT_CACHE="${SHOPBOT_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/shopbot}"
