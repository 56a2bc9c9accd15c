{{/* Chart name, truncated to a DNS label. */}}
{{- define "guardrail-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-<chart>, or the release name when it already contains the chart name. */}}
{{- define "guardrail-operator.fullname" -}}
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

{{/* chart label value: name-version. */}}
{{- define "guardrail-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every object carries. */}}
{{- define "guardrail-operator.labels" -}}
helm.sh/chart: {{ include "guardrail-operator.chart" . }}
{{ include "guardrail-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: guardrail
{{- end }}

{{/* Labels selecting the operator pods (never change them: Deployment selectors are immutable). */}}
{{- define "guardrail-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "guardrail-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "guardrail-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "guardrail-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository[:tag][@digest] with the tag defaulting to the appVersion. */}}
{{- define "guardrail-operator.image" -}}
{{- $tag := default .root.Chart.AppVersion .image.tag }}
{{- if .image.digest }}
{{- printf "%s:%s@%s" .image.repository $tag .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository $tag }}
{{- end }}
{{- end }}

{{- define "guardrail-operator.webhookServiceName" -}}
{{- printf "%s-webhook" (include "guardrail-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "guardrail-operator.webhookSecretName" -}}
{{- printf "%s-webhook-tls" (include "guardrail-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "guardrail-operator.webhookCertificateName" -}}
{{- printf "%s-webhook" (include "guardrail-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The handler path kopf serves: guardrail_operator.webhook.WEBHOOK_ID. */}}
{{- define "guardrail-operator.webhookPath" -}}
/inject-sidecar
{{- end }}

{{/*
The chart-generated webhook TLS material as YAML {caBundle, ca.crt, ca.key, tls.crt, tls.key} (base64 values).
The CA is kept from the existing Secret (so the caBundle never changes under running pods) and the serving
certificate is re-issued by every upgrade. With rotateCA a new CA is generated and the caBundle trusts both
the new and the previous CA until the next upgrade, so pods still serving the old certificate keep working.
The result is memoised in .Values so the Secret and the MutatingWebhookConfiguration, rendered from different
files, see the same material.
*/}}
{{- define "guardrail-operator.webhookTLS" -}}
{{- if not (hasKey .Values "__webhookTLS") }}
{{- $svc := include "guardrail-operator.webhookServiceName" . }}
{{- $dns := list $svc (printf "%s.%s" $svc .Release.Namespace) (printf "%s.%s.svc" $svc .Release.Namespace) (printf "%s.%s.svc.cluster.local" $svc .Release.Namespace) }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "guardrail-operator.webhookSecretName" .) }}
{{- $old := dict }}
{{- if and $existing (hasKey $existing "data") }}{{- $old = $existing.data }}{{- end }}
{{- $ca := dict }}
{{- $bundle := "" }}
{{- if and (hasKey $old "ca.crt") (hasKey $old "ca.key") (not .Values.webhook.tls.rotateCA) }}
{{- $ca = buildCustomCert (index $old "ca.crt") (index $old "ca.key") }}
{{- $bundle = index $old "ca.crt" | b64dec }}
{{- else }}
{{- $ca = genCA (printf "%s-webhook-ca" (include "guardrail-operator.fullname" .)) (int .Values.webhook.tls.caValidityDays) }}
{{- $bundle = $ca.Cert }}
{{- if hasKey $old "ca.crt" }}
{{- $bundle = printf "%s\n%s" (trimSuffix "\n" $ca.Cert) (index $old "ca.crt" | b64dec) }}
{{- end }}
{{- end }}
{{- $cert := genSignedCert (printf "%s.%s.svc" $svc .Release.Namespace) nil $dns (int .Values.webhook.tls.certValidityDays) $ca }}
{{- $tls := dict "caBundle" ($bundle | b64enc) "ca.crt" ($ca.Cert | b64enc) "ca.key" ($ca.Key | b64enc) "tls.crt" ($cert.Cert | b64enc) "tls.key" ($cert.Key | b64enc) }}
{{- $_ := set .Values "__webhookTLS" $tls }}
{{- end }}
{{- toYaml (get .Values "__webhookTLS") }}
{{- end }}

{{/* Pod security context meeting the restricted Pod Security Standard. */}}
{{- define "guardrail-operator.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Container security context meeting the restricted Pod Security Standard. */}}
{{- define "guardrail-operator.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}
