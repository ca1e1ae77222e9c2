#!/usr/bin/env bash
# uptodate.sh OUT DIR [record]: is the test tool OUT built from what DIR holds
# now? Tools are keyed by the content of their module dir and the Go version,
# not by file times: a fresh clone or a merge gives every file a new mtime,
# and CI restores bin/tools from a cache, so make's mtime rule would rebuild
# them for nothing (or keep a stale one). Without "record": exit 0 when OUT
# exists and OUT.inputs holds the key. With "record": write the key (after a
# successful build).
set -euo pipefail
out=$1 dir=$2
key=$({ "${GO:-go}" env GOVERSION; find "$dir" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; } | sha256sum | cut -d' ' -f1)
if [ "${3:-}" = record ]; then
	printf '%s\n' "$key" >"$out.inputs.tmp" && mv "$out.inputs.tmp" "$out.inputs"
	exit 0
fi
[ -x "$out" ] && [ "$(cat "$out.inputs" 2>/dev/null)" = "$key" ]
