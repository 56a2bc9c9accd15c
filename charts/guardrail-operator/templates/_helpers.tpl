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

{{/* The handler path kopf serves: guardrail_operator.webhook.admission.WEBHOOK_ID. */}}
{{- define "guardrail-operator.webhookPath" -}}
/inject-sidecar
{{- end }}

{{/* The path of the strict handler (no opt-out): guardrail_operator.webhook.admission.STRICT_WEBHOOK_ID. */}}
{{- define "guardrail-operator.strictWebhookPath" -}}
/inject-sidecar-strict
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

{{/*
What the operator needs in a namespace it serves, and nothing else: its own resource, the children it renders
(guardrail_operator.builders, listed in guardrail_operator.clients.k8s.KINDS) and events. Secrets: create only (the
generated Qdrant API key); the operator can never read a Secret back, pods reference them by name.
Granted cluster-wide by the ClusterRole when operator.watchNamespaces is empty, else by one Role per watched
namespace.
*/}}
{{- define "guardrail-operator.namespacedRules" -}}
- apiGroups: ["guardrails.dev"]
  resources: ["guardrails"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["guardrails.dev"]
  resources: ["guardrails/status"]
  verbs: ["get", "patch", "update"]
# Children: revision and Triton ConfigMaps, Triton and Qdrant Services.
- apiGroups: [""]
  resources: ["configmaps", "services"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
# Children: Triton Deployments, Qdrant StatefulSets.
- apiGroups: ["apps"]
  resources: ["deployments", "statefulsets"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
# Child: the NetworkPolicy letting the selected pods be reached only through the sidecar.
- apiGroups: ["networking.k8s.io"]
  resources: ["networkpolicies"]
  verbs: ["get", "list", "create", "patch", "update", "delete"]
# Children: the Role/RoleBinding letting selected pods read their Guardrail. Creating them needs no
# escalate/bind verbs: the operator holds every permission those Roles grant.
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["roles", "rolebindings"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
# The generated Qdrant API key: created once, never read (no get/list/watch).
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["create"]
# Knowledge-base ingestion Jobs (spec.knowledgeBase.sources), and reading their Pods' termination message
# (the ingestion result).
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list"]
- apiGroups: ["", "events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}
