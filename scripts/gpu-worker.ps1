# The GPU worker on a Windows machine beside ComfyUI: scripts/gpu-worker's twin. One command takes a fresh PC to a
# worker that polls: it installs comfyloom[gpu] into a venv, writes gpu-worker.env, checks Temporal and ComfyUI
# from here, and registers a Task Scheduler task that starts the worker at logon. The worker only dials out, to
# Temporal and to its ComfyUI; it holds no storage credential. See docs/OPERATIONS.md ("A GPU worker at home").
#
#   powershell -ExecutionPolicy Bypass -File scripts\gpu-worker.ps1 -Temporal temporal.example.com:7443 `
#       -Ca ca.pem -Cert gpu-home-1.pem -Key gpu-home-1.key
#   powershell -ExecutionPolicy Bypass -File scripts\gpu-worker.ps1 -Check   # check again after a change
#   powershell -ExecutionPolicy Bypass -File scripts\gpu-worker.ps1 -Run     # the worker, until Ctrl-C
#   powershell -ExecutionPolicy Bypass -File scripts\gpu-worker.ps1 -Help    # every parameter
#
# Windows PowerShell 5.1 and PowerShell 7 alike.
param(
    [switch]$Help,
    [switch]$Check,
    [switch]$Run,
    [switch]$KeepRunning,
    [switch]$Yes,
    [switch]$NoService,
    [switch]$Upgrade,
    [string]$EnvFile,
    [string]$Temporal,
    [string]$Namespace,
    [string]$Ca,
    [string]$Cert,
    [string]$Key,
    [string]$ServerName,
    [string]$ApiKey,
    [switch]$Plaintext,
    [string]$ComfyUI,
    [string]$Checkpoint,
    [string]$CoverFaceDetail,
    [string]$StickerBackground
)
$ErrorActionPreference = "Stop"
$bound = $PSBoundParameters # the script's parameters given, as functions here see them
$TaskName = "comfyloom GPU worker"
$Usage = @"
usage: gpu-worker.ps1 [SETTINGS...] [-Yes] [-NoService] [-Upgrade] [-EnvFile PATH]
       gpu-worker.ps1 -Check [-EnvFile PATH]
       gpu-worker.ps1 -Run [-KeepRunning] [-EnvFile PATH]
       gpu-worker.ps1 -Help

Sets up and runs the comfyloom GPU worker beside ComfyUI on this PC.

modes:
  (none)       set up: check Python >= 3.11, write the settings file from the parameters (asking for what they
               leave out when run in a console), install comfyloom into a venv, check Temporal and ComfyUI from
               here, then register a Task Scheduler task "$TaskName" that starts the worker at logon
  -Check       check Temporal and ComfyUI from this PC with the settings file, then exit (0: ready)
  -Run         run the worker until Ctrl-C (what the task runs, with -KeepRunning: again after a failure)
  -Help        this text; nothing is installed or changed

settings (set-up only; with none given, an existing settings file is kept as it is):
  -Temporal HOST:PORT     Temporal's address: the mTLS door (:7443) or Temporal Cloud's endpoint
  -Namespace NS           Temporal namespace (default: default)
  -Ca FILE                the CA certificate that signed the server's (deploy/make-certs.sh's ca.pem)
  -Cert FILE -Key FILE    this PC's client certificate and its key (make-certs.sh's <client>.pem, .key);
                          copied to certs\ca.pem, certs\gpu-worker.pem, certs\gpu-worker.key beside the settings
  -ServerName NAME        the name on the server's certificate, when it differs from the address's host
  -ApiKey KEY             a Temporal Cloud API key instead of certificates (implies TLS)
  -Plaintext              no TLS and no credential, for a Temporal on a network you trust (implied for one on
                          this PC: localhost, 127.x, ::1)
  -ComfyUI URL            ComfyUI on this PC (default: http://127.0.0.1:8188)
  -Checkpoint NAME        the checkpoint file in ComfyUI's models\checkpoints\
                          (default: waiNSFWIllustrious_v130.safetensors)
  -CoverFaceDetail true|false      covers get a FaceDetailer pass: needs ComfyUI-Impact-Pack, -Subpack and
                                   bbox\face_yolov8m.pt (default: true)
  -StickerBackground chroma|rmbg   how sticker backgrounds are removed: chroma needs no custom node, rmbg needs
                                   ComfyUI-Easy-Use (default: chroma)

options:
  -EnvFile PATH   the settings file (default: gpu-worker.env in the checkout, or `$env:COMFYLOOM_ENV)
  -Yes            never ask: a missing setting is an error
  -NoService      register no task; say how to start the worker by hand
  -Upgrade        install comfyloom into the venv again (after a git pull)

environment:
  PYTHON              the Python to make the venv with (default: the newest 3.x of the py launcher)
  COMFYLOOM_VENV      where to install (default: .venv-gpu in the checkout); recorded in the settings file
  COMFYLOOM_PIP_ARGS  more arguments for pip, e.g. "--no-index --find-links DIR" to install offline
"@

function Fail([string]$Message) { # a usage error: one line, exit 2
    [Console]::Error.WriteLine("gpu-worker.ps1: $Message")
    exit 2
}

function Get-FullPath([string]$Path) { # relative to where the person is, not to the checkout
    $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($Path)
}

if ($Help) { Write-Output $Usage; exit 0 }
if ($args.Count -gt 0) { Fail "unknown argument '$($args[0])' (see -Help)" }
if ($Check -and $Run) { Fail "-Check or -Run, not both" }
$mode = if ($Check) { "check" } elseif ($Run) { "run" } else { "setup" }
$settingNames = "Temporal", "Namespace", "Ca", "Cert", "Key", "ServerName", "ApiKey", "Plaintext", "ComfyUI",
    "Checkpoint", "CoverFaceDetail", "StickerBackground"
$given = @($settingNames | Where-Object { $bound.ContainsKey($_) })
if ($mode -ne "setup" -and $given.Count -gt 0) { Fail "-$($given[0]) changes settings: run without -$mode for that" }

$root = (Resolve-Path (Join-Path $PSScriptRoot "..")).Path
$defaultSettingsFile = Join-Path $root "gpu-worker.env"
$settingsFile = if ($EnvFile) { Get-FullPath $EnvFile } elseif ($env:COMFYLOOM_ENV) { Get-FullPath $env:COMFYLOOM_ENV } else { $defaultSettingsFile }
$envDir = Split-Path -Parent $settingsFile
$defaultVenv = Join-Path $root ".venv-gpu"
$venvFromEnvironment = $env:COMFYLOOM_VENV

# The settings file: KEY=value lines, no quotes needed (surrounding ones are dropped), # comments. An ordered
# table of its values; a line that is not KEY=value is an error naming it.
function Read-EnvFile([string]$Path) {
    $values = [ordered]@{}
    foreach ($raw in Get-Content -LiteralPath $Path) {
        $line = $raw.Trim()
        if ($line -eq "" -or $line.StartsWith("#")) { continue }
        if ($line.StartsWith("export ")) { $line = $line.Substring(7) }
        $name, $value = $line -split "=", 2
        $name = $name.Trim()
        if ($null -eq $value -or $name -notmatch '^[A-Za-z_][A-Za-z0-9_]*$') { Fail "${Path}: not a KEY=value line: $line" }
        $value = $value.Trim()
        if ($value.Length -ge 2 -and (($value[0] -eq '"' -and $value[-1] -eq '"') -or ($value[0] -eq "'" -and $value[-1] -eq "'"))) {
            $value = $value.Substring(1, $value.Length - 2)
        }
        $values[$name] = $value
    }
    $values
}

function Import-EnvFile { # the settings file's values into this process's environment (they override it)
    $values = Read-EnvFile $settingsFile
    foreach ($name in $values.Keys) { [Environment]::SetEnvironmentVariable($name, $values[$name], "Process") }
    $values
}

function Get-RunCommand { # how a person in the checkout starts the worker by hand
    $command = "powershell -ExecutionPolicy Bypass -File scripts\gpu-worker.ps1 -Run"
    if ($settingsFile -ne $defaultSettingsFile) { $command += " -EnvFile `"$settingsFile`"" }
    $command
}

function Test-Task { $null -ne (Get-ScheduledTask -TaskName $TaskName -ErrorAction SilentlyContinue) }

if ($mode -ne "setup") {
    if (-not (Test-Path -LiteralPath $settingsFile)) { Fail "no settings file ${settingsFile}: run without -$mode to set this PC up" }
    $values = Import-EnvFile
    $venv = if ($venvFromEnvironment) { Get-FullPath $venvFromEnvironment } elseif ($values["COMFYLOOM_VENV"]) { $values["COMFYLOOM_VENV"] } else { $defaultVenv }
    $comfyloom = Join-Path $venv "Scripts\comfyloom.exe"
    if (-not (Test-Path -LiteralPath $comfyloom)) { Fail "comfyloom is not installed in ${venv}: run without -$mode to set this PC up" }
    Set-Location -LiteralPath $envDir # the settings' paths (certs/...) are relative to the settings file's folder
    if ($mode -eq "check") {
        if (-not $env:COMFYLOOM_LAUNCHER) {
            $env:COMFYLOOM_LAUNCHER = if (Test-Task) { "Start-ScheduledTask '$TaskName'" } else { Get-RunCommand }
        }
        & $comfyloom worker-gpu --check
        exit $LASTEXITCODE
    }
    while ($true) { # Ctrl-C stops the worker gracefully; the task's -KeepRunning starts it again after a failure
        & $comfyloom worker-gpu
        $code = $LASTEXITCODE
        if ($code -eq 0 -or -not $KeepRunning) { exit $code }
        Write-Host "the worker stopped (exit status $code): starting it again in 10 s"
        Start-Sleep -Seconds 10
    }
}

# ---- set up -----------------------------------------------------------------------------------------------------

$kept = [ordered]@{}
if (Test-Path -LiteralPath $settingsFile) { $kept = Read-EnvFile $settingsFile }
$recordedVenv = if ($kept["COMFYLOOM_VENV"]) { Get-FullPath $kept["COMFYLOOM_VENV"] } else { $defaultVenv }
$venv = if ($venvFromEnvironment) { Get-FullPath $venvFromEnvironment } else { $recordedVenv }
$venvPython = Join-Path $venv "Scripts\python.exe"
$comfyloom = Join-Path $venv "Scripts\comfyloom.exe"

# (a) Python 3.11 or newer: $env:PYTHON, else the newest 3.x the py launcher has, else python on PATH
if ($env:PYTHON) { $python = $env:PYTHON; $pyArgs = @() }
elseif (Get-Command py -ErrorAction SilentlyContinue) { $python = "py"; $pyArgs = @("-3") }
else { $python = "python"; $pyArgs = @() }
if (-not (Get-Command $python -ErrorAction SilentlyContinue)) {
    [Console]::Error.WriteLine("there is no Python here: install Python 3.11 or newer from python.org (with the py launcher), or set PYTHON")
    exit 1
}
& $python @pyArgs -c "import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)"
if ($LASTEXITCODE -ne 0) {
    $version = & $python @pyArgs -c "import sys; print(sys.version.split()[0])"
    [Console]::Error.WriteLine("comfyloom needs Python 3.11 or newer, and $python $pyArgs is ${version}: install a newer one (python.org), or set PYTHON to one")
    exit 1
}

# (c) the settings: each from its parameter, else the file being replaced, else a question, else its default
$ask = (-not $Yes) -and [Environment]::UserInteractive -and -not [Console]::IsInputRedirected
function Get-Setting([string]$Name, [string]$Param, [string]$Question, [string]$Default = "") {
    if ($bound.ContainsKey($Param)) { return [string](Get-Variable -Name $Param -Scope Script -ValueOnly) }
    if ($kept.Contains($Name)) { return $kept[$Name] }
    if ($ask) {
        $prompt = if ($Default) { "$Question [$Default]" } else { $Question }
        $answer = Read-Host $prompt
        if ($answer) { return $answer }
    }
    $Default
}
function Test-ThisMachine([string]$Address) {
    $hostName = ($Address -replace ':\d+$', '').Trim('[', ']')
    $hostName -eq "localhost" -or $hostName -eq "::1" -or $hostName.StartsWith("127.")
}
$certFiles = [ordered]@{ Ca = "certs/ca.pem"; Cert = "certs/gpu-worker.pem"; Key = "certs/gpu-worker.key" }
$certSettings = @{ Ca = "TEMPORAL_TLS_CA"; Cert = "TEMPORAL_TLS_CERT"; Key = "TEMPORAL_TLS_KEY" }

if ((Test-Path -LiteralPath $settingsFile) -and $given.Count -eq 0 -and $venv -eq $recordedVenv) {
    Write-Host "settings: keeping $settingsFile (setting parameters change them; -Help lists them)"
    if ($kept.Keys | Where-Object { $_ -like "S3_*" }) {
        Write-Host "NOTE  $settingsFile has S3_ settings the GPU worker does not read: delete those lines (this PC needs no storage credential)"
    }
} else {
    $address = Get-Setting "TEMPORAL_ADDRESS" "Temporal" "Temporal's address (HOST:PORT)"
    if (-not $address) { Fail "-Temporal HOST:PORT is missing: Temporal's address" }
    if ($address -notmatch '^\S+:\d+$') { Fail "-Temporal takes HOST:PORT, got '$address'" }
    $namespaceValue = Get-Setting "TEMPORAL_NAMESPACE" "Namespace" "Temporal namespace" "default"

    # How Temporal knows this PC: certificate files, an API key, or nothing (a Temporal here, -Plaintext).
    $certs = [ordered]@{}
    foreach ($name in $certFiles.Keys) {
        if ($bound.ContainsKey($name)) { $certs[$name] = (Get-Variable -Name $name -Scope Script -ValueOnly) }
    }
    if ($bound.ContainsKey("ApiKey") -and $certs.Count -gt 0) {
        Fail "-ApiKey (Temporal Cloud) or certificate files (-Ca, -Cert, -Key), not both"
    }
    if ($certs.Contains("Cert") -ne $certs.Contains("Key")) { Fail "-Cert and -Key go together: this PC's certificate and its key" }
    foreach ($name in $certs.Keys) {
        if (-not (Test-Path -LiteralPath $certs[$name] -PathType Leaf)) { Fail "-$name $($certs[$name]): no such file" }
    }
    $apiKeyValue = ""
    if ($bound.ContainsKey("ApiKey")) { $credential = "api-key"; $apiKeyValue = $ApiKey }
    elseif ($certs.Count -gt 0) { $credential = "certs" }
    elseif ($Plaintext) { $credential = "none" }
    elseif ($kept.Contains("TEMPORAL_API_KEY")) { $credential = "api-key"; $apiKeyValue = $kept["TEMPORAL_API_KEY"] }
    elseif ($kept.Contains("TEMPORAL_TLS_CERT") -or $kept.Contains("TEMPORAL_TLS_CA") -or $kept.Contains("TEMPORAL_TLS")) { $credential = "kept" }
    elseif (Test-ThisMachine $address) { $credential = "none" }
    elseif ($ask) {
        Write-Host "Temporal at $address lets in only machines it knows: by the certificate files deploy/make-certs.sh made"
        Write-Host "for this one (self-hosted), or by a Temporal Cloud API key."
        $secure = Read-Host "Temporal Cloud API key (Enter if you have certificate files instead)" -AsSecureString
        $apiKeyValue = [Runtime.InteropServices.Marshal]::PtrToStringAuto([Runtime.InteropServices.Marshal]::SecureStringToBSTR($secure))
        if ($apiKeyValue) { $credential = "api-key" }
        else {
            $questions = [ordered]@{ Ca = "the CA certificate (ca.pem)"; Cert = "this PC's certificate (<client>.pem)"; Key = "its key (<client>.key)" }
            foreach ($name in $questions.Keys) {
                $answer = Read-Host $questions[$name]
                if (-not (Test-Path -LiteralPath $answer -PathType Leaf)) { Fail "${answer}: no such file" }
                $certs[$name] = $answer
            }
            $credential = "certs"
        }
    } else {
        Fail "Temporal at $address needs this PC's certificate (-Ca FILE -Cert FILE -Key FILE, from deploy/make-certs.sh) or a Temporal Cloud key (-ApiKey KEY); -Plaintext for none"
    }
    if ($credential -eq "api-key" -and -not $apiKeyValue) { Fail "-ApiKey is empty" }

    $comfyUrl = Get-Setting "COMFYUI_URL" "ComfyUI" "ComfyUI's URL on this PC" "http://127.0.0.1:8188"
    if ($comfyUrl -notmatch '^https?://\S+$') { Fail "-ComfyUI takes a URL like http://127.0.0.1:8188, got '$comfyUrl'" }
    $checkpointValue = Get-Setting "COMFYUI_CHECKPOINT" "Checkpoint" "the checkpoint file in ComfyUI's models\checkpoints\" "waiNSFWIllustrious_v130.safetensors"
    if (-not $checkpointValue) { Fail "-Checkpoint is empty" }
    $faceDetail = Get-Setting "COVER_FACE_DETAIL" "CoverFaceDetail" "covers with a FaceDetailer pass (needs ComfyUI-Impact-Pack, -Subpack and face_yolov8m.pt): true or false" "true"
    if ($faceDetail -notin "true", "false") { Fail "-CoverFaceDetail takes true or false, got '$faceDetail'" }
    $background = Get-Setting "STICKER_BACKGROUND_REMOVAL" "StickerBackground" "sticker backgrounds removed by chroma (no custom node) or rmbg (ComfyUI-Easy-Use)" "chroma"
    if ($background -notin "chroma", "rmbg") { Fail "-StickerBackground takes chroma or rmbg, got '$background'" }
    $serverNameValue = if ($bound.ContainsKey("ServerName")) { $ServerName } else { $kept["TEMPORAL_TLS_SERVER_NAME"] }

    # The certificates go beside the settings file.
    New-Item -ItemType Directory -Force -Path $envDir | Out-Null
    if ($credential -eq "certs") {
        New-Item -ItemType Directory -Force -Path (Join-Path $envDir "certs") | Out-Null
        foreach ($name in $certs.Keys) {
            $source = [IO.Path]::GetFullPath((Get-FullPath $certs[$name]))
            $target = [IO.Path]::GetFullPath((Join-Path $envDir ($certFiles[$name] -replace '/', '\')))
            if ($source -ne $target) { Copy-Item -LiteralPath $source -Destination $target -Force }
        }
    }
    $managed = "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_TLS", "TEMPORAL_TLS_CA", "TEMPORAL_TLS_CERT",
        "TEMPORAL_TLS_KEY", "TEMPORAL_TLS_SERVER_NAME", "TEMPORAL_API_KEY", "COMFYUI_URL", "COMFYUI_CHECKPOINT",
        "COVER_FACE_DETAIL", "STICKER_BACKGROUND_REMOVAL", "SHUTDOWN_GRACE_SECONDS", "COMFYLOOM_VENV"
    $lines = New-Object System.Collections.Generic.List[string]
    $lines.Add("# This GPU worker's settings, written by scripts\gpu-worker.ps1: run it again with parameters to change them, or")
    $lines.Add("# edit this file and run scripts\gpu-worker.ps1 -Check. KEY=value, no quotes needed; paths are relative to")
    $lines.Add("# this file's folder. No storage credential: renders go up through URLs the cloud side signs.")
    $lines.Add("TEMPORAL_ADDRESS=$address")
    $lines.Add("TEMPORAL_NAMESPACE=$namespaceValue")
    switch ($credential) {
        "api-key" { $lines.Add("TEMPORAL_API_KEY=$apiKeyValue") }
        "certs" { foreach ($name in $certs.Keys) { $lines.Add("$($certSettings[$name])=$($certFiles[$name])") } }
        "kept" {
            foreach ($name in "TEMPORAL_TLS", "TEMPORAL_TLS_CA", "TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY") {
                if ($kept.Contains($name)) { $lines.Add("$name=$($kept[$name])") }
            }
        }
    }
    if ($serverNameValue -and $credential -ne "none") { $lines.Add("TEMPORAL_TLS_SERVER_NAME=$serverNameValue") }
    $lines.Add("COMFYUI_URL=$comfyUrl")
    $lines.Add("COMFYUI_CHECKPOINT=$checkpointValue")
    $lines.Add("COVER_FACE_DETAIL=$faceDetail")
    $lines.Add("STICKER_BACKGROUND_REMOVAL=$background")
    $lines.Add("# On Ctrl-C, how long a render under way may finish before it is handed back.")
    $grace = if ($kept["SHUTDOWN_GRACE_SECONDS"]) { $kept["SHUTDOWN_GRACE_SECONDS"] } else { "60" }
    $lines.Add("SHUTDOWN_GRACE_SECONDS=$grace")
    if ($venv -ne $defaultVenv) {
        $lines.Add("# Where scripts\gpu-worker.ps1 installed comfyloom.")
        $lines.Add("COMFYLOOM_VENV=$venv")
    }
    foreach ($name in $kept.Keys) { # the earlier file's other settings (LOG_FORMAT, METRICS_PORT, ...), but S3_
        if ($managed -notcontains $name -and $name -notlike "S3_*") { $lines.Add("$name=$($kept[$name])") }
    }
    [IO.File]::WriteAllLines($settingsFile, $lines) # UTF-8 without a byte-order mark
    Write-Host "settings: wrote $settingsFile"
    if ($kept.Keys | Where-Object { $_ -like "S3_*" }) {
        Write-Host "NOTE  left out the earlier file's S3_ settings: this PC needs no storage credential"
    }
}

# (b) comfyloom, the GPU worker's group only, into the venv
$pipArgs = @(if ($env:COMFYLOOM_PIP_ARGS) { $env:COMFYLOOM_PIP_ARGS -split '\s+' | Where-Object { $_ } })
if ($Upgrade) { $pipArgs += "--upgrade" }
if ($Upgrade -or -not (Test-Path -LiteralPath $comfyloom)) {
    Write-Host "installing comfyloom into $venv (a minute or two) ..."
    if (-not (Test-Path -LiteralPath $venvPython)) {
        & $python @pyArgs -m venv $venv
        if ($LASTEXITCODE -ne 0) { [Console]::Error.WriteLine("making the venv $venv failed (above)"); exit 1 }
    }
    & $venvPython -m pip install -q @pipArgs ($root + "[gpu]")
    if ($LASTEXITCODE -ne 0) {
        [Console]::Error.WriteLine("installing comfyloom failed (above): fix that, then run the same command again")
        exit 1
    }
} else {
    Write-Host "comfyloom: installed in $venv (-Upgrade installs it again)"
}

# (d) the check, from the settings file's folder with its values
$launcher = if ($NoService) { Get-RunCommand } else { "Start-ScheduledTask '$TaskName'" }
Write-Host ""
Write-Host "checking Temporal and ComfyUI from this PC ..."
Import-EnvFile | Out-Null
$env:COMFYLOOM_LAUNCHER = $launcher
Push-Location -LiteralPath $envDir
try { & $comfyloom worker-gpu --check; $checked = $LASTEXITCODE } finally { Pop-Location }
if ($checked -ne 0) {
    Write-Host ""
    Write-Host "fix what is listed above, then run the same command again (what it installed and wrote is kept)"
    exit 1
}
Write-Host ""
if ($NoService) {
    Write-Host "to start the worker (it runs until Ctrl-C), in ${root}: $(Get-RunCommand)"
    exit 0
}

# (e) the task: at logon, in a minimized console window (Ctrl-C there stops the worker gracefully), started again
# after a failure
$shell = (Get-Process -Id $PID).Path # powershell.exe or pwsh.exe, whichever runs this
$arguments = "-NoProfile -ExecutionPolicy Bypass -WindowStyle Minimized -File `"$PSCommandPath`" -Run -KeepRunning -EnvFile `"$settingsFile`""
$user = if ($env:USERDOMAIN) { "$env:USERDOMAIN\$env:USERNAME" } else { $env:USERNAME }
$action = New-ScheduledTaskAction -Execute $shell -Argument $arguments -WorkingDirectory $envDir
$trigger = New-ScheduledTaskTrigger -AtLogOn -User $user
$principal = New-ScheduledTaskPrincipal -UserId $user -LogonType Interactive -RunLevel Limited
$taskSettings = New-ScheduledTaskSettingsSet -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries -StartWhenAvailable `
    -ExecutionTimeLimit ([TimeSpan]::Zero) -RestartCount 999 -RestartInterval (New-TimeSpan -Minutes 1) -MultipleInstances IgnoreNew
Register-ScheduledTask -TaskName $TaskName -Action $action -Trigger $trigger -Principal $principal -Settings $taskSettings `
    -Description "comfyloom GPU worker beside ComfyUI ($root)" -Force | Out-Null
Stop-ScheduledTask -TaskName $TaskName -ErrorAction SilentlyContinue
Start-ScheduledTask -TaskName $TaskName
Write-Host "the worker runs: Task Scheduler task '$TaskName', at each logon, in a minimized window (Ctrl-C there stops it)"
Write-Host "  stop it:   Stop-ScheduledTask '$TaskName'"
Write-Host "  remove it: Unregister-ScheduledTask '$TaskName'"
Write-Host "  check it:  powershell -ExecutionPolicy Bypass -File scripts\gpu-worker.ps1 -Check$(if ($settingsFile -ne $defaultSettingsFile) { " -EnvFile `"$settingsFile`"" })"
