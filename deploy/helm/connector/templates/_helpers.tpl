{{/*
Names, labels and the pieces every connector pod shares: the environment,
the volumes and the pod-level settings.
*/}}

{{- define "connector.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name; resource names append -api, -worker, ... to it. */}}
{{- define "connector.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "connector.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource; with (dict "root" . "component" "api"). */}}
{{- define "connector.labels" -}}
helm.sh/chart: {{ include "connector.chart" .root }}
{{ include "connector.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Values.image.tag | default .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{/* The labels a component's pods carry and its selectors match. */}}
{{- define "connector.selectorLabels" -}}
app.kubernetes.io/name: {{ include "connector.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "connector.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "connector.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "connector.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{- define "connector.mediaClaim" -}}
{{- .Values.media.existingClaim | default (printf "%s-media" (include "connector.fullname" .)) }}
{{- end }}

{{/*
PUBLIC_URL: publicURL, else https://<the first Ingress host>, else empty
(the variable is then not set).
*/}}
{{- define "connector.publicURL" -}}
{{- if .Values.publicURL }}
{{- .Values.publicURL }}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts }}
{{- printf "https://%s" (index .Values.ingress.hosts 0).host }}
{{- end }}
{{- end }}

{{/*
The variables the chart sets itself, from dedicated values, and the ones
that come only from existingSecret: env, api.env and worker.env may not
name them.
*/}}
{{- define "connector.reservedVars" -}}
LOG_LEVEL LOG_FORMAT PUBLIC_URL SHUTDOWN_TIMEOUT MEDIA_DIR HTTP_ADDR METRICS_ADDR
TEMPORAL_ADDRESS TEMPORAL_NAMESPACE TEMPORAL_TASK_QUEUE TEMPORAL_UI_URL
TEMPORAL_TLS_CERT TEMPORAL_TLS_KEY TEMPORAL_TLS_CA TEMPORAL_TLS_SERVER_NAME
DATABASE_URL ADMIN_TOKEN SECRET_KEYS SECRET_KEY PII_CODEC_KEYS CODEC_TOKEN METRICS_TOKEN TEMPORAL_API_KEY
{{- end }}

{{/* Fails the render on values that would deploy a broken connector. */}}
{{- define "connector.validate" -}}
{{- $v := .Values }}
{{- if not $v.existingSecret }}
{{- fail "existingSecret: name the Secret holding DATABASE_URL, ADMIN_TOKEN, SECRET_KEYS and PII_CODEC_KEYS" }}
{{- end }}
{{- $reserved := splitList " " (include "connector.reservedVars" . | replace "\n" " ") }}
{{- range $where, $env := dict "env" $v.env "api.env" $v.api.env "worker.env" $v.worker.env }}
{{- range $name, $_ := $env }}
{{- if has $name $reserved }}
{{- fail (printf "%s.%s: the chart sets %s itself (a secret comes from existingSecret, the others from their own values; see README.md)" $where $name $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- with $v.temporal.tls }}
{{- if .enabled }}
{{- if ne (empty .cert) (empty .key) }}
{{- fail "temporal.tls: set cert and key together (mTLS), or neither" }}
{{- end }}
{{- if and (or .cert .ca) (not .secretName) }}
{{- fail "temporal.tls.secretName: name the Secret holding the TLS files" }}
{{- end }}
{{- if not (or .cert .ca .serverName) }}
{{- fail "temporal.tls: set cert and key (mTLS), ca (the server's CA) or serverName: the connector turns TLS on by one of them" }}
{{- end }}
{{- end }}
{{- end }}
{{- if and $v.api.autoscaling.enabled (gt (int $v.api.autoscaling.minReplicas) (int $v.api.autoscaling.maxReplicas)) }}
{{- fail "api.autoscaling: minReplicas is above maxReplicas" }}
{{- end }}
{{- if lt (int $v.shutdownTimeoutSeconds) 1 }}
{{- fail "shutdownTimeoutSeconds: at least 1" }}
{{- end }}
{{- end }}

{{/* A secretKeyRef entry of existingSecret: (dict "root" . "name" VAR "optional" bool). */}}
{{- define "connector.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .root.Values.existingSecret }}
      key: {{ .name }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end }}

{{/*
The environment of one role: (dict "root" . "role" "api"|"worker"|"migrate").
Each role gets only the variables config/vars.go says it reads.
*/}}
{{- define "connector.env" -}}
{{- $root := .root }}
{{- $role := .role }}
{{- $v := $root.Values -}}
- name: LOG_LEVEL
  value: {{ $v.log.level | quote }}
- name: LOG_FORMAT
  value: {{ $v.log.format | quote }}
{{- if ne $role "migrate" }}
{{- with include "connector.publicURL" $root }}
- name: PUBLIC_URL
  value: {{ . | quote }}
{{- end }}
- name: SHUTDOWN_TIMEOUT
  value: {{ printf "%ds" (int $v.shutdownTimeoutSeconds) | quote }}
- name: MEDIA_DIR
  value: {{ $v.media.mountPath | quote }}
- name: TEMPORAL_ADDRESS
  value: {{ $v.temporal.address | quote }}
- name: TEMPORAL_NAMESPACE
  value: {{ $v.temporal.namespace | quote }}
- name: TEMPORAL_TASK_QUEUE
  value: {{ $v.temporal.taskQueue | quote }}
{{- with $v.temporal.tls }}
{{- if .enabled }}
{{- if .cert }}
- name: TEMPORAL_TLS_CERT
  value: {{ printf "%s/tls.crt" .mountPath | quote }}
- name: TEMPORAL_TLS_KEY
  value: {{ printf "%s/tls.key" .mountPath | quote }}
{{- end }}
{{- if .ca }}
- name: TEMPORAL_TLS_CA
  value: {{ printf "%s/ca.crt" .mountPath | quote }}
{{- end }}
{{- if .serverName }}
- name: TEMPORAL_TLS_SERVER_NAME
  value: {{ .serverName | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- if eq $role "api" }}
- name: HTTP_ADDR
  value: {{ printf ":%d" (int $v.api.port) | quote }}
{{- with $v.temporal.uiURL }}
- name: TEMPORAL_UI_URL
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- if eq $role "worker" }}
- name: METRICS_ADDR
  value: {{ ternary (printf ":%d" (int $v.worker.metrics.port)) "off" $v.worker.metrics.enabled | quote }}
{{- end }}
{{- if ne $role "migrate" }}
{{- range $name, $value := $v.env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- range $name, $value := (get $v $role).env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}
{{ include "connector.secretEnv" (dict "root" $root "name" "DATABASE_URL") }}
{{- if ne $role "migrate" }}
{{- if eq $role "api" }}
{{ include "connector.secretEnv" (dict "root" $root "name" "ADMIN_TOKEN") }}
{{ include "connector.secretEnv" (dict "root" $root "name" "CODEC_TOKEN" "optional" true) }}
{{- end }}
{{- /* One of the two is in the Secret: the connector refuses both, and neither. */}}
{{ include "connector.secretEnv" (dict "root" $root "name" "SECRET_KEYS" "optional" true) }}
{{ include "connector.secretEnv" (dict "root" $root "name" "SECRET_KEY" "optional" true) }}
{{ include "connector.secretEnv" (dict "root" $root "name" "PII_CODEC_KEYS") }}
{{- if $v.metrics.tokenInSecret }}
{{ include "connector.secretEnv" (dict "root" $root "name" "METRICS_TOKEN") }}
{{- end }}
{{- if $v.temporal.apiKey.enabled }}
{{ include "connector.secretEnv" (dict "root" $root "name" "TEMPORAL_API_KEY") }}
{{- end }}
{{- end }}
{{- end }}

{{/* The volumes of a pod: (dict "root" . "role" ...). */}}
{{- define "connector.volumes" -}}
{{- $v := .root.Values -}}
- name: tmp
  emptyDir: {}
{{- if ne .role "migrate" }}
- name: media
  persistentVolumeClaim:
    claimName: {{ include "connector.mediaClaim" .root }}
{{- with $v.temporal.tls }}
{{- if and .enabled (or .cert .ca) }}
- name: temporal-tls
  secret:
    secretName: {{ .secretName }}
    defaultMode: 0440
    items:
      {{- if .cert }}
      - key: {{ .cert }}
        path: tls.crt
      - key: {{ .key }}
        path: tls.key
      {{- end }}
      {{- if .ca }}
      - key: {{ .ca }}
        path: ca.crt
      {{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- with $v.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The volume mounts of a container: (dict "root" . "role" ...). */}}
{{- define "connector.volumeMounts" -}}
{{- $v := .root.Values -}}
- name: tmp
  mountPath: /tmp
{{- if ne .role "migrate" }}
- name: media
  mountPath: {{ $v.media.mountPath }}
{{- if and $v.temporal.tls.enabled (or $v.temporal.tls.cert $v.temporal.tls.ca) }}
- name: temporal-tls
  mountPath: {{ $v.temporal.tls.mountPath }}
  readOnly: true
{{- end }}
{{- end }}
{{- with $v.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Pod-level settings shared by api, worker and the migration. */}}
{{- define "connector.podSettings" -}}
{{- $v := .Values -}}
automountServiceAccountToken: {{ $v.serviceAccount.automountToken }}
{{- with $v.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Pod template metadata: (dict "root" . "component" ...). */}}
{{- define "connector.podMetadata" -}}
labels:
  {{- include "connector.labels" . | nindent 2 }}
  {{- with .root.Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with .root.Values.podAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* topologySpreadConstraints with the component's selector where a constraint has none: (dict "root" . "component" ...). */}}
{{- define "connector.topologySpread" -}}
{{- $sel := include "connector.selectorLabels" . | fromYaml }}
{{- $out := list }}
{{- range .root.Values.topologySpreadConstraints }}
{{- $c := deepCopy . }}
{{- if not (hasKey $c "labelSelector") }}
{{- $_ := set $c "labelSelector" (dict "matchLabels" $sel) }}
{{- end }}
{{- $out = append $out $c }}
{{- end }}
{{- with $out }}
{{- toYaml . }}
{{- end }}
{{- end }}
