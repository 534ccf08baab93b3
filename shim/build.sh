#!/usr/bin/env bash
# Builds the shim on Linux with mono's mcs. Three steps:
#   1. STUB reference assemblies (shim/stubs/*.cs -> bin/stubs/): BepInEx,
#      0Harmony, UnityEngine and Photon3Unity3D declaring only what the
#      plugin uses.
#   2. Propwash.Native.dll: the P/Invoke layer; pure .NET, no stubs.
#   3. Propwash.Shim.dll: the BepInEx plugin, compiled against the stubs.
# Step 3 proves the plugin TYPE-CHECKS; that Propwash.Shim.dll is never to
# be installed in the game (build.ps1 builds the real one against the
# game's own DLLs). Propwash.Native.dll is the same either way.
#
# Usage: shim/build.sh [--out DIR]   (default: shim/bin, git-ignored)
# Needs: mcs (apt-get install mono-mcs). tests/csharp.rs runs this script.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
out="$here/bin"
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
  esac
done

if ! command -v mcs >/dev/null 2>&1; then
  echo "mcs not found: install mono's C# compiler (apt-get install mono-mcs; .ci/run does this)" >&2
  exit 1
fi

mkdir -p "$out/stubs"
# C# 7.2 for `in` parameters (Unity 2020.3 compiles C# 8, so the real build is unaffected).
mcs_flags=(-langversion:7.2 -target:library -optimize+ -warn:4 -warnaserror -nologo)

echo "== stubs (type-checking only, never shipped) -> $out/stubs"
mcs "${mcs_flags[@]}" -out:"$out/stubs/UnityEngine.dll" "$here/stubs/UnityEngine.cs"
mcs "${mcs_flags[@]}" -out:"$out/stubs/0Harmony.dll" "$here/stubs/Harmony.cs"
mcs "${mcs_flags[@]}" -out:"$out/stubs/BepInEx.dll" -r:"$out/stubs/UnityEngine.dll" "$here/stubs/BepInEx.cs"
mcs "${mcs_flags[@]}" -out:"$out/stubs/Photon3Unity3D.dll" "$here/stubs/Photon3Unity3D.cs"

echo "== Propwash.Native.dll"
mcs "${mcs_flags[@]}" -out:"$out/Propwash.Native.dll" "$here"/src/Native/*.cs

echo "== Propwash.Shim.dll (against the stubs: a type check, not for the game)"
mcs "${mcs_flags[@]}" -out:"$out/Propwash.Shim.dll" \
  -r:"$out/Propwash.Native.dll" \
  -r:"$out/stubs/BepInEx.dll" \
  -r:"$out/stubs/0Harmony.dll" \
  -r:"$out/stubs/UnityEngine.dll" \
  -r:"$out/stubs/Photon3Unity3D.dll" \
  "$here"/src/Plugin/*.cs

cat > "$out/NOT-FOR-THE-GAME.txt" <<'EOF'
Propwash.Shim.dll in this folder was compiled against STUB assemblies
(bin/stubs) to check that the plugin type-checks on Linux. Do not install
it: build the plugin with shim/build.ps1 against the game's own DLLs.
EOF
echo "== ok: $out"
