#!/bin/sh
# Plan one district from the shell: scripts/plan_district.sh AREA KIND COUNT [more siting plan options]
#   AREA   'demo', an OSM file (.osm, .osm.xml, .osm.bz2, .osm.gz, .osm.pbf) or a place name
#   KIND   5g, charging, basic, depot, swap or hydrogen
#   COUNT  sites in total, existing included (for charging kinds: stations)
# Outputs go to out/<area file name>-<kind>/; copy this script and add your own options.
set -eu
if [ $# -lt 3 ]; then
  echo "usage: scripts/plan_district.sh AREA KIND COUNT [siting plan options]" >&2
  exit 2
fi
area=$1 kind=$2 count=$3
shift 3
here=$(cd "$(dirname "$0")/.." && pwd)
siting=${SITING:-$here/.venv/bin/siting}
name=$(basename "$area" | sed 's/\.osm.*$//; s/\.pbf$//')
exec "$siting" plan "$area" --kind "$kind" --count "$count" --out "out/$name-$kind" "$@"
