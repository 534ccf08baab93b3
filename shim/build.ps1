<#
.SYNOPSIS
    Builds propwash for DRL Simulator on Windows and installs it into BepInEx.

.DESCRIPTION
    1. Builds the Rust library and its Steam plugin:
       cargo build --release --workspace --lib --target x86_64-pc-windows-msvc
       -> target\x86_64-pc-windows-msvc\release\propwash.dll, propwash_steam.dll
       (their symbols are the .pdb files beside them; propwash loads the
       Steam plugin at run time; without it, or without the game's
       steam_api64.dll, players are offline and unverified)
    2. Compiles Propwash.Native.dll (shim\src\Native) and Propwash.Shim.dll
       (shim\src\Plugin) against the GAME's own assemblies: mscorlib/System
       and UnityEngine*.dll from "DRL Simulator_Data\Managed", BepInEx.dll and
       0Harmony.dll from "BepInEx\core". (The Linux build, build.sh, uses stub
       assemblies instead and only proves the plugin type-checks.)
    3. Copies propwash.dll, propwash_steam.dll, Propwash.Native.dll and
       Propwash.Shim.dll into <GamePath>\BepInEx\plugins\propwash\.
    4. With -Package, also makes the racers' zip from these files with
       `propwash package` (target\package\propwash-<version>-windows-x64.zip
       and its .sha256). The zips of releases are made by CI instead, with
       the plugin compiled against the stub assemblies (README.md,
       "Building for Windows").

    Needs: BepInEx 5.4.x (x64, Unity Mono) installed in the game and run once;
    Rust with the x86_64-pc-windows-msvc target (rustup default on Windows) and
    the MSVC build tools; a C# compiler: csc on PATH (a Visual Studio Developer
    PowerShell), or the .NET SDK (its Roslyn csc.dll), or Mono for Windows.

    This script cannot be run on the Linux machines the project is developed
    on; it is kept deliberately plain so that it can be read and fixed.

.PARAMETER GamePath
    The folder holding "DRL Simulator.exe".

.PARAMETER SkipRust
    Use an already built propwash.dll (from -NativeDll or the cargo target dir).

.PARAMETER NativeDll
    Path of a propwash.dll to install instead of the cargo output.

.PARAMETER NoInstall
    Build into shim\bin\windows only.

.PARAMETER Package
    Also make the zip (step 4), from the DLLs built here.

.EXAMPLE
    .\shim\build.ps1 -GamePath "C:\Program Files (x86)\Steam\steamapps\common\DRL Simulator"
#>
param(
    [Parameter(Mandatory = $true)][string]$GamePath,
    [switch]$SkipRust,
    [string]$NativeDll = "",
    [switch]$NoInstall,
    [switch]$Package
)

$ErrorActionPreference = "Stop"
$shim = $PSScriptRoot
$root = Split-Path $shim -Parent
$out = Join-Path $shim "bin\windows"
$managed = Join-Path $GamePath "DRL Simulator_Data\Managed"
$bepinexCore = Join-Path $GamePath "BepInEx\core"
$pluginDir = Join-Path $GamePath "BepInEx\plugins\propwash"

function Require-File([string]$path, [string]$hint) {
    if (-not (Test-Path $path)) { throw "missing $path ($hint)" }
}

Require-File $managed "is -GamePath the folder with 'DRL Simulator.exe'?"
Require-File (Join-Path $bepinexCore "BepInEx.dll") "install BepInEx 5.4.x (x64) into the game and start it once"
New-Item -ItemType Directory -Force -Path $out | Out-Null

# ---- 1. the Rust library ----------------------------------------------------
if ($NativeDll -ne "") {
    Require-File $NativeDll "the -NativeDll you gave"
    $dll = $NativeDll
} else {
    $dll = Join-Path $root "target\x86_64-pc-windows-msvc\release\propwash.dll"
    if (-not $SkipRust) {
        Write-Host "== cargo build --release --target x86_64-pc-windows-msvc"
        Push-Location $root
        try {
            & cargo build --release --workspace --lib --target x86_64-pc-windows-msvc
            if ($LASTEXITCODE -ne 0) { throw "cargo build of the DLLs failed" }
        } finally { Pop-Location }
    }
    Require-File $dll "build it with cargo (drop -SkipRust)"
}

# ---- 2. a C# compiler ------------------------------------------------------
# Returns a script block that runs the compiler with the given arguments.
function Find-Csc {
    $csc = Get-Command csc -ErrorAction SilentlyContinue
    # GetNewClosure: the block runs after this function returns, so it must keep its variables.
    if ($csc) { return { param($a) & $csc.Source @a }.GetNewClosure() }
    $dotnet = Get-Command dotnet -ErrorAction SilentlyContinue
    if ($dotnet) {
        foreach ($line in (& dotnet --list-sdks | Sort-Object -Descending)) {
            # "8.0.100 [C:\Program Files\dotnet\sdk]"
            if ($line -match '^(\S+) \[(.+)\]$') {
                $cscDll = Join-Path (Join-Path $Matches[2] $Matches[1]) "Roslyn\bincore\csc.dll"
                if (Test-Path $cscDll) { return { param($a) & $dotnet.Source exec $cscDll @a }.GetNewClosure() }
            }
        }
    }
    foreach ($mono in @("$env:ProgramFiles\Mono\bin\csc.bat", "$env:ProgramFiles\Mono\bin\mcs.bat")) {
        if (Test-Path $mono) { return { param($a) & $mono @a }.GetNewClosure() }
    }
    throw "no C# compiler: open a Visual Studio Developer PowerShell, or install the .NET SDK or Mono"
}
$compile = Find-Csc

# The game's own framework assemblies (Unity's Mono profile), not the machine's.
$framework = @("mscorlib.dll", "System.dll", "System.Core.dll") | ForEach-Object { Join-Path $managed $_ }
$netstandard = Join-Path $managed "netstandard.dll"
if (Test-Path $netstandard) { $framework += $netstandard }
$common = @("-nologo", "-noconfig", "-nostdlib+", "-langversion:7.3", "-target:library", "-optimize+", "-warn:4") +
    ($framework | ForEach-Object { "-r:$_" })

function Sources([string]$dir) {
    return Get-ChildItem -Path (Join-Path $shim $dir) -Filter *.cs | ForEach-Object { $_.FullName }
}

Write-Host "== Propwash.Native.dll"
$nativeOut = Join-Path $out "Propwash.Native.dll"
& $compile ($common + @("-out:$nativeOut") + (Sources "src\Native"))
if ($LASTEXITCODE -ne 0) { throw "compiling Propwash.Native.dll failed" }

Write-Host "== Propwash.Shim.dll (against the game's BepInEx, Harmony, Unity and Photon3Unity3D)"
$unity = @("UnityEngine.dll", "UnityEngine.CoreModule.dll", "UnityEngine.PhysicsModule.dll") |
    ForEach-Object { Join-Path $managed $_ } | Where-Object { Test-Path $_ }
# The plugin patches the game's own Photon client library (PhotonPeer in Photon3Unity3D.dll).
$photon = Join-Path $managed "Photon3Unity3D.dll"
if (-not (Test-Path $photon)) { throw "no Photon3Unity3D.dll in $managed: is this DRL Simulator's Managed folder?" }
$refs = @($nativeOut, (Join-Path $bepinexCore "BepInEx.dll"), (Join-Path $bepinexCore "0Harmony.dll"), $photon) + @($unity) |
    Where-Object { $_ }
$shimOut = Join-Path $out "Propwash.Shim.dll"
& $compile ($common + @("-out:$shimOut") + ($refs | ForEach-Object { "-r:$_" }) + (Sources "src\Plugin"))
if ($LASTEXITCODE -ne 0) { throw "compiling Propwash.Shim.dll failed" }

Copy-Item $dll (Join-Path $out "propwash.dll") -Force
# The Steam plugin sits beside propwash.dll; missing, players are offline.
$steamPlugin = Join-Path (Split-Path $dll -Parent) "propwash_steam.dll"
$files = @("propwash.dll", "Propwash.Native.dll", "Propwash.Shim.dll")
if (Test-Path $steamPlugin) {
    Copy-Item $steamPlugin (Join-Path $out "propwash_steam.dll") -Force
    $files += "propwash_steam.dll"
} else {
    Write-Warning "no propwash_steam.dll beside $dll: players will be offline (unverified)"
}

# ---- 3. install ---------------------------------------------------------------
if (-not $NoInstall) {
    New-Item -ItemType Directory -Force -Path $pluginDir | Out-Null
    foreach ($f in $files) {
        Copy-Item (Join-Path $out $f) (Join-Path $pluginDir $f) -Force
    }
    Write-Host "== installed into $pluginDir"
    Write-Host "   start the game once, then edit BepInEx\config\propwash.cfg (see shim\README.md)"
} else {
    Write-Host "== built into $out"
}

# ---- 4. the racers' zip --------------------------------------------------------
if ($Package) {
    Write-Host "== propwash package"
    Push-Location $root
    try {
        & cargo run --release -- package --native $out --shim $out --out (Join-Path $root "target\package")
        if ($LASTEXITCODE -ne 0) { throw "propwash package failed" }
    } finally { Pop-Location }
}
