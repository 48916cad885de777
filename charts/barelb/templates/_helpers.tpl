{{/* The chart name, or nameOverride. */}}
{{- define "barelb.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object name: fullnameOverride, else the release name when it already
contains the chart name (`helm install barelb ...` gives `barelb-controller`), else
`<release>-<name>`.
*/}}
{{- define "barelb.fullname" -}}
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

{{- define "barelb.controller.fullname" -}}
{{- printf "%s-controller" (include "barelb.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "barelb.speaker.fullname" -}}
{{- printf "%s-speaker" (include "barelb.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- /* The Secret holding the speakers' heartbeat key: the user's, or the chart's own. */ -}}
{{- define "barelb.speaker.heartbeatKeySecret" -}}
{{- .Values.speaker.heartbeatKey.existingSecret | default (printf "%s-heartbeat-key" (include "barelb.fullname" .) | trunc 63 | trimSuffix "-") }}
{{- end }}

{{- define "barelb.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "barelb.labels" -}}
helm.sh/chart: {{ include "barelb.chart" . }}
app.kubernetes.io/name: {{ include "barelb.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: barelb
{{- end }}

{{/* Selector labels of one component; call with (dict "ctx" $ "component" "controller"). */}}
{{- define "barelb.selectorLabels" -}}
app.kubernetes.io/name: {{ include "barelb.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* All labels of one component's objects; same argument as barelb.selectorLabels. */}}
{{- define "barelb.componentLabels" -}}
{{ include "barelb.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "barelb.controller.serviceAccountName" -}}
{{- if .Values.controller.serviceAccount.create }}
{{- default (include "barelb.controller.fullname" .) .Values.controller.serviceAccount.name }}
{{- else }}
{{- required "controller.serviceAccount.name must name an existing ServiceAccount when controller.serviceAccount.create is false" .Values.controller.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "barelb.speaker.serviceAccountName" -}}
{{- if .Values.speaker.serviceAccount.create }}
{{- default (include "barelb.speaker.fullname" .) .Values.speaker.serviceAccount.name }}
{{- else }}
{{- required "speaker.serviceAccount.name must name an existing ServiceAccount when speaker.serviceAccount.create is false" .Values.speaker.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: repository@digest when a digest is given, else repository:tag. */}}
{{- define "barelb.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Environment every barelb container gets from the downward API. */}}
{{- define "barelb.podEnv" -}}
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
# Owner of the program's Lease: it is garbage-collected with the Pod.
- name: POD_UID
  valueFrom:
    fieldRef:
      fieldPath: metadata.uid
{{- end }}

{{- define "barelb.checks" -}}
{{- if and .Values.prometheus.serviceMonitor.enabled .Values.prometheus.podMonitor.enabled }}
{{- fail "prometheus.serviceMonitor.enabled and prometheus.podMonitor.enabled are both true: choose one, or every target is scraped twice" }}
{{- end }}
{{- include "barelb.checks.bgp" . }}
{{- end }}

{{- /*
The BGP settings' rules across keys, with the words of barelb's parser (src/config/parse.ts,
bgp.ts), which checks everything again when it reads the ConfigMap: here they stop
`helm install` instead of leaving a refused config behind.
*/}}
{{- define "barelb.checks.bgp" -}}
{{- $c := .Values.config }}
{{- if $c.create }}
{{- $profiles := list }}
{{- range $i, $b := $c.bfdProfiles }}
{{- if has $b.name $profiles }}
{{- fail (printf "config.bfdProfiles[%d].name %q: duplicate BFD profile name" $i $b.name) }}
{{- end }}
{{- $profiles = append $profiles $b.name }}
{{- end }}
{{- range $i, $p := $c.peers }}
{{- with (index $p "bfd-profile") }}
{{- if not (has . $profiles) }}
{{- fail (printf "config.peers[%d].bfd-profile %q: no such profile in config.bfdProfiles" $i .) }}
{{- end }}
{{- end }}
{{- end }}
{{- range $i, $pool := $c.addressPools }}
{{- $bgp := eq (default "layer2" $pool.protocol) "bgp" }}
{{- if and $bgp (hasKey $pool "interfaces") }}
{{- fail (printf "config.addressPools[%d].interfaces (pool %q): only for protocol: layer2 pools (BGP routes are not tied to an interface): remove it" $i $pool.name) }}
{{- end }}
{{- if and (not $bgp) (hasKey $pool "bgp-advertisements") }}
{{- fail (printf "config.addressPools[%d].bgp-advertisements (pool %q): only for protocol: bgp pools: remove it or set protocol: bgp" $i $pool.name) }}
{{- end }}
{{- range $j, $adv := index $pool "bgp-advertisements" }}
{{- range $k, $community := $adv.communities }}
{{- if not (or (hasKey ($c.bgpCommunities | default dict) $community) (regexMatch "^([0-9]+:[0-9]+|large:[0-9]+:[0-9]+:[0-9]+)$" $community)) }}
{{- fail (printf "config.addressPools[%d].bgp-advertisements[%d].communities[%d] %q: not a community: write AS:value, large:A:B:C or a name from config.bgpCommunities" $i $j $k $community) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
