# The GPU worker on a Windows machine beside ComfyUI: installs itself on first use, then runs until
# Ctrl-C. It only dials out: to Temporal (TLS) and to object storage.
#
#   Copy-Item gpu-worker.env.example gpu-worker.env; notepad gpu-worker.env
#   powershell -ExecutionPolicy Bypass -File scripts\gpu-worker.ps1 -Check   # reach everything? then exit
#   powershell -ExecutionPolicy Bypass -File scripts\gpu-worker.ps1          # run
#
# See docs/OPERATIONS.md ("A GPU worker at home").
param([switch]$Check, [string]$EnvFile = "gpu-worker.env")
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..")
if (-not (Test-Path $EnvFile)) {
    Write-Error "no ${EnvFile}: copy gpu-worker.env.example to $EnvFile and fill it in"
    exit 2
}
$python = if ($env:PYTHON) { $env:PYTHON } else { "py" }
$pyArgs = if ($python -eq "py") { @("-3.11") } else { @() }
$venv = ".venv-gpu"
$comfyloom = Join-Path $venv "Scripts\comfyloom.exe"
if (-not (Test-Path $comfyloom)) {
    Write-Host "installing comfyloom into $venv ..."
    & $python @pyArgs -m venv $venv
    & (Join-Path $venv "Scripts\python.exe") -m pip install -q --upgrade pip
    & (Join-Path $venv "Scripts\python.exe") -m pip install -q .
}
foreach ($line in Get-Content $EnvFile) {
    $line = $line.Trim()
    if ($line -eq "" -or $line.StartsWith("#")) { continue }
    $name, $value = $line -split "=", 2
    [Environment]::SetEnvironmentVariable($name.Trim(), $value.Trim().Trim('"'), "Process")
}
if ($Check) { & $comfyloom worker-gpu --check; exit $LASTEXITCODE }
& $comfyloom worker-gpu
exit $LASTEXITCODE
