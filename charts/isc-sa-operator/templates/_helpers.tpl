{{/* Chart name, shortened to the 63 characters a label value may hold. */}}
{{- define "isc-sa-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's objects. A release whose name already contains the chart name is
not prefixed twice.
*/}}
{{- define "isc-sa-operator.fullname" -}}
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

{{- define "isc-sa-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "isc-sa-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "isc-sa-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "isc-sa-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: isc-sa-operator
{{- end }}

{{- define "isc-sa-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "isc-sa-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "isc-sa-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Name of the Secret that holds the Tenant's PAT, created by the chart or existing. */}}
{{- define "isc-sa-operator.credentialsSecretName" -}}
{{- if .Values.tenant.credentials.existingSecret.name }}
{{- .Values.tenant.credentials.existingSecret.name }}
{{- else }}
{{- printf "%s-credentials" (include "isc-sa-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "isc-sa-operator.credentialsSecretNamespace" -}}
{{- default .Release.Namespace .Values.tenant.credentials.existingSecret.namespace }}
{{- end }}

{{/*
NODE_OPTIONS of the operator container. The young generation stays small because the operator's
garbage is short-lived. With a memory limit, the old generation is capped at
heap.percentOfMemoryLimit percent of it: Node reads the container's cgroup limit for that flag.
Without a limit the percentage would apply to the node's memory, so V8's own sizing stays.
*/}}
{{- define "isc-sa-operator.nodeOptions" -}}
{{- $options := list "--max-semi-space-size=2" }}
{{- $limits := (.Values.resources | default dict).limits | default dict }}
{{- $percent := (.Values.heap | default dict).percentOfMemoryLimit }}
{{- if and $limits.memory (not (kindIs "invalid" $percent)) }}
{{- $options = append $options (printf "--max-old-space-size-percentage=%v" $percent) }}
{{- end }}
{{- join " " $options }}
{{- end }}

{{/* True (non-empty) when operator.extraEnv sets NODE_OPTIONS itself. */}}
{{- define "isc-sa-operator.extraEnvSetsNodeOptions" -}}
{{- range .Values.operator.extraEnv }}
{{- if eq .name "NODE_OPTIONS" }}true{{ end }}
{{- end }}
{{- end }}
