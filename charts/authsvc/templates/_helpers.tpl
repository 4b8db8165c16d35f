{{/* Chart name, truncated to 63 characters (a DNS label). */}}
{{- define "authsvc.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart, or the release name when it already holds the chart name. */}}
{{- define "authsvc.fullname" -}}
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

{{- define "authsvc.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "authsvc.selectorLabels" -}}
app.kubernetes.io/name: {{ include "authsvc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "authsvc.labels" -}}
helm.sh/chart: {{ include "authsvc.chart" . }}
{{ include "authsvc.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "authsvc.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "authsvc.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding client secret, cookie secret and the Redis URL. */}}
{{- define "authsvc.secretName" -}}
{{- default (include "authsvc.fullname" .) .Values.existingSecret }}
{{- end }}

{{/* In-cluster URL of the service, for the proxies' auth-url / forwardAuth address. */}}
{{- define "authsvc.internalURL" -}}
{{- printf "http://%s.%s.svc.cluster.local:%d" (include "authsvc.fullname" .) .Release.Namespace (int .Values.service.port) }}
{{- end }}

{{- define "authsvc.proxyPrefix" -}}
{{- .Values.config.proxy_prefix | default "/oauth2" }}
{{- end }}

{{/*
The effective authsvc settings: .Values.config plus what the chart itself decides.
Refuses the options that belong elsewhere, so no secret ever lands in the ConfigMap.
*/}}
{{- define "authsvc.settings" -}}
{{- $settings := deepCopy (.Values.config | default dict) }}
{{- range $key := list "client_secret" "cookie_secret" "redis_connection_url" "redis_password" "redis_sentinel_password" }}
{{- if hasKey $settings $key }}
{{- fail (printf "config.%s: put secrets under .Values.secrets (or existingSecret), never in config" $key) }}
{{- end }}
{{- end }}
{{- if hasKey $settings "http_address" }}
{{- fail "config.http_address: set .Values.containerPort instead (the chart sets AUTHSVC_HTTP_ADDRESS)" }}
{{- end }}
{{- if not $settings.client_id }}
{{- fail "config.client_id is required" }}
{{- end }}
{{- if and (eq (toString ($settings.provider | default "oidc")) "oidc") (not $settings.oidc_issuer_url) }}
{{- fail "config.oidc_issuer_url is required for provider oidc" }}
{{- end }}
{{- if .Values.redis.enabled }}
{{- $_ := set $settings "session_store_type" "redis" }}
{{- end }}
{{- toJson $settings }}
{{- end }}

{{/*
Renders a flat map as TOML. Helm reads every number as a float, so whole numbers are printed
as integers; strings and lists go through toJson, whose output is valid TOML for these types.
Null values are left out, so `--set config.x=null` falls back to authsvc's default.
*/}}
{{- define "authsvc.toml" -}}
{{- range $key, $value := . }}
{{- if not (regexMatch "^[a-z][a-z0-9_]*$" $key) }}
{{- fail (printf "config: %q is not an authsvc option name" $key) }}
{{- end }}
{{- if kindIs "invalid" $value }}
{{- else if kindIs "map" $value }}
{{- fail (printf "config.%s: authsvc options are flat; a table is not allowed" $key) }}
{{- else if or (kindIs "float64" $value) (kindIs "int64" $value) (kindIs "int" $value) }}
{{- if eq (float64 $value) (floor $value) }}
{{ $key }} = {{ int64 $value }}
{{- else }}
{{ $key }} = {{ $value }}
{{- end }}
{{- else }}
{{ $key }} = {{ toJson $value }}
{{- end }}
{{- end }}
{{- end }}
