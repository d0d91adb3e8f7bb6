{{/* Names and labels, as `helm create` makes them. */}}
{{- define "smtp-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "smtp-exporter.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "smtp-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "smtp-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "smtp-exporter.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "smtp-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "smtp-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "smtp-exporter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
registry/repository:tag, and @digest when one is set: the runtime pulls by
the digest, the tag stays for the reader. With a digest only a tag that was
set is shown (not the appVersion, which need not name the digested image).
*/}}
{{- define "smtp-exporter.imageRef" -}}
{{- $ref := .image.repository }}
{{- if .image.registry }}{{ $ref = printf "%s/%s" .image.registry $ref }}{{ end }}
{{- $tag := toString (.image.tag | default "") }}
{{- if not .image.digest }}{{ $tag = $tag | default (toString .appVersion) }}{{ end }}
{{- if $tag }}{{ $ref = printf "%s:%s" $ref $tag }}{{ end }}
{{- if .image.digest }}{{ $ref = printf "%s@%s" $ref .image.digest }}{{ end }}
{{- $ref }}
{{- end }}

{{/*
Whether the Unbound sidecar runs: "true" or empty. auto: when an inline
module uses mx or dane (not off), or when the config is an existing Secret,
which the chart cannot read.
*/}}
{{- define "smtp-exporter.resolverEnabled" -}}
{{- $enabled := .Values.resolver.sidecar.enabled }}
{{- if eq (toString $enabled) "auto" }}
{{- if .Values.config.existingSecret }}true
{{- else if include "smtp-exporter.dnsModules" . }}true
{{- end }}
{{- else if eq (toString $enabled) "true" }}true
{{- end }}
{{- end }}

{{/* The names of the inline modules that look up DNS records a validating resolver must answer: mx or dane. */}}
{{- define "smtp-exporter.dnsModules" -}}
{{- range $name, $m := .Values.config.modules }}
{{- if kindIs "map" $m }}
{{- $dane := toString (get $m "dane") }}
{{- if or (and (hasKey $m "mx") (not (kindIs "invalid" $m.mx))) (and (hasKey $m "dane") (not (has $dane (list "off" "false" "")))) }}{{ $name }} {{ end }}
{{- end }}
{{- end }}
{{- end }}

{{- define "smtp-exporter.resolverAddress" -}}
127.0.0.1:{{ .Values.resolver.sidecar.port }}
{{- end }}

{{/*
config.yml. The modules as written, except that dane: off (which YAML 1.1,
Helm's, reads as false) is written back as off, and that modules of
smtp-exporter.dnsModules without a dns.server of their own ask the
sidecar. port_modules is written by hand: toYaml would quote its numeric
keys, which the exporter reads as port numbers.
*/}}
{{- define "smtp-exporter.config" -}}
{{- $cfg := omit .Values.config "existingSecret" "existingSecretKey" "port_modules" | deepCopy }}
{{- $resolver := include "smtp-exporter.resolverEnabled" . }}
{{- $dnsModules := splitList " " (include "smtp-exporter.dnsModules" .) }}
{{- $modules := dict }}
{{- range $name, $m := ($cfg.modules | default dict) }}
{{- if kindIs "map" $m }}
{{- if and (hasKey $m "dane") (eq (toString (get $m "dane")) "false") }}
{{- $_ := set $m "dane" "off" }}
{{- end }}
{{- if and $resolver (has $name $dnsModules) }}
{{- $dns := get $m "dns" | default dict }}
{{- if not (get $dns "server") }}
{{- $_ := set $dns "server" (include "smtp-exporter.resolverAddress" $) }}
{{- $_ := set $m "dns" $dns }}
{{- end }}
{{- end }}
{{- $_ := set $modules $name $m }}
{{- end }}
{{- end }}
{{- $_ := set $cfg "modules" $modules }}
{{- toYaml $cfg }}
{{- with .Values.config.port_modules }}
port_modules:
{{- range $port, $module := . }}
  {{ $port }}: {{ $module | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
GOMEMLIMIT in MiB: goMemLimitPercent of resources.limits.memory, empty
without either. Reads the quantity forms people write (128Mi, 1Gi, 0.5Gi,
512M, 134217728); fails on others rather than guess.
*/}}
{{- define "smtp-exporter.goMemLimit" -}}
{{- $limit := "" }}
{{- with .Values.resources }}{{ with .limits }}{{ with .memory }}{{ $limit = toString . }}{{ end }}{{ end }}{{ end }}
{{- $percent := .Values.goMemLimitPercent | int }}
{{- if and $limit (gt $percent 0) }}
{{- $m := regexFindAll "^([0-9]+(?:\\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$" $limit 1 }}
{{- if not $m }}
{{- fail (printf "resources.limits.memory %q: want a number with an optional unit Ki, Mi, Gi, Ti, k, M, G or T to derive GOMEMLIMIT (or set goMemLimitPercent: 0)" $limit) }}
{{- end }}
{{- $number := regexReplaceAll "[A-Za-z]+$" $limit "" | float64 }}
{{- $unit := regexReplaceAll "^[0-9.]+" $limit "" }}
{{- $factors := dict "" 1.0 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "k" 1000.0 "M" 1000000.0 "G" 1000000000.0 "T" 1000000000000.0 }}
{{- $bytes := mulf $number (get $factors $unit) }}
{{- $mib := divf (mulf $bytes $percent) 104857600.0 | floor | int }}
{{- if lt $mib 1 }}
{{- fail (printf "resources.limits.memory %q: %d%% of it is less than 1 MiB" $limit $percent) }}
{{- end }}
{{- printf "%dMiB" $mib }}
{{- end }}
{{- end }}

{{- define "smtp-exporter.unboundDir" -}}
/etc/unbound-smtp-exporter
{{- end }}

{{/* unbound.conf of the sidecar. */}}
{{- define "smtp-exporter.unboundConf" -}}
# Unbound beside smtp_exporter (chart smtp-exporter): a validating,
# recursive resolver for this pod alone. The exporter's DNS modules ask it
# on 127.0.0.1 and trust the AD bit of its answers (DANE).
server:
  interface: 127.0.0.1
  port: {{ .Values.resolver.sidecar.port }}
  access-control: 127.0.0.0/8 allow
  do-ip6: no
  # A non-root container with a read-only root: no user switch, no
  # chroot, no pid file (-p), logs to stderr.
  username: ""
  chroot: ""
  directory: "{{ include "smtp-exporter.unboundDir" . }}"
  use-syslog: no
  logfile: ""
  verbosity: 1
  # Why an answer is bogus, in the log: what on-call needs for
  # SMTPDNSSECBogus.
  val-log-level: 2
  # Extended DNS Errors tell the exporter why an answer failed.
  ede: yes
  num-threads: 1
  so-reuseport: no
  hide-identity: yes
  hide-version: yes
  module-config: "validator iterator"
  # Small caches: one exporter's probes, not a site's resolver.
  msg-cache-size: 8m
  rrset-cache-size: 16m
  key-cache-size: 4m
  neg-cache-size: 1m
  prefetch: yes
{{- range .Values.resolver.sidecar.trustAnchors }}
  {{- /* Tabs (as in root.ds or dig's output) would reach Unbound as \t. */}}
  trust-anchor: {{ regexReplaceAll "\\s+" (trim .) " " | quote }}
{{- end }}
{{- with .Values.resolver.sidecar.extraServerConfig }}
{{ . | trim | indent 2 }}
{{- end }}
remote-control:
  control-enable: no
{{- with .Values.resolver.sidecar.extraConfig }}
{{ . | trim }}
{{- end }}
{{- end }}
