{{/* Labels every object carries; the selector uses the first two. */}}
{{- define "herald.selector" -}}
app.kubernetes.io/name: herald
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "herald.labels" -}}
{{ include "herald.selector" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* HERALD_REDIS_URL for redis.mode (PROTOCOL.md section 12). */}}
{{- define "herald.redisURL" -}}
{{- $auth := "" -}}
{{- if .Values.redis.passwordSecret.name -}}{{- $auth = ":$(HERALD_REDIS_PASSWORD)@" -}}{{- end -}}
{{- if eq .Values.redis.mode "standalone" -}}
{{ ternary "rediss" "redis" .Values.redis.standalone.tls }}://{{ $auth }}{{ .Values.redis.standalone.addr }}/{{ .Values.redis.standalone.db }}
{{- else if eq .Values.redis.mode "sentinel" -}}
redis+sentinel://{{ $auth }}{{ join "," .Values.redis.sentinel.addrs }}/{{ .Values.redis.sentinel.masterName }}
{{- else if eq .Values.redis.mode "cluster" -}}
redis+cluster://{{ $auth }}{{ join "," .Values.redis.cluster.addrs }}
{{- else -}}
{{- fail (printf "redis.mode is %q: want standalone, sentinel or cluster" .Values.redis.mode) -}}
{{- end -}}
{{- end -}}
