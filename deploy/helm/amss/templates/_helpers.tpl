{{/* Names, labels and the pieces every workload shares. */}}

{{- define "amss.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "amss.fullname" -}}
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

{{- define "amss.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "amss.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "amss.selectorLabels" -}}
app.kubernetes.io/name: {{ include "amss.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "amss.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "amss.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "amss.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The Secret the workloads read: the operator's, or the one this chart creates. */}}
{{- define "amss.secretName" -}}
{{- default (include "amss.fullname" .) .Values.secret.existingSecret }}
{{- end }}

{{/* Environment of server and worker: settings from the ConfigMap, secrets by key. */}}
{{- define "amss.env" -}}
- name: DB_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "amss.secretName" . }}
      key: DB_URL
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "amss.secretName" . }}
      key: REDIS_URL
      optional: true
- name: JWT_PRIVATE_KEY_PEM
  valueFrom:
    secretKeyRef:
      name: {{ include "amss.secretName" . }}
      key: JWT_PRIVATE_KEY_PEM
- name: JWT_PUBLIC_KEY_PEM
  valueFrom:
    secretKeyRef:
      name: {{ include "amss.secretName" . }}
      key: JWT_PUBLIC_KEY_PEM
- name: SECRETS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "amss.secretName" . }}
      key: SECRETS_KEY
{{- end }}

{{/* Pod-level pieces shared by server and worker: $ is the root, .component the values. */}}
{{- define "amss.podExtras" -}}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .component.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .component.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .component.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .component.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
