{{/*
Names, labels and the building blocks every template shares. A template renders an object's
metadata with "pulse.metadata" and a pod with "pulse.deployment" or "pulse.k6.podSpec".
*/}}

{{- define "pulse.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The prefix of every name: the release name, unless it already contains the chart name. */}}
{{- define "pulse.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "pulse.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* "pulse.componentName" (dict "root" $ "component" "write") -> pulse-write */}}
{{- define "pulse.componentName" -}}
{{- printf "%s-%s" (include "pulse.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The CloudNativePG clusters: <fullname>-write and <fullname>-projection. */}}
{{- define "pulse.writeCluster" -}}
{{- include "pulse.componentName" (dict "root" . "component" "write") -}}
{{- end -}}
{{- define "pulse.projectionCluster" -}}
{{- include "pulse.componentName" (dict "root" . "component" "projection") -}}
{{- end -}}

{{- define "pulse.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pulse.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}

{{/* "pulse.labels" (dict "root" $ "component" "write"); component may be empty. */}}
{{- define "pulse.labels" -}}
{{ include "pulse.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: pulse
helm.sh/chart: {{ include "pulse.chart" .root }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
metadata of a namespaced object:
  "pulse.metadata" (dict "root" $ "name" "pulse-write" "component" "write" "monitoring" true
                         "namespace" "other" "labels" (dict ...) "annotations" (dict ...))
monitoring: true adds the Prometheus release label (monitoring.prometheusReleaseLabel).
*/}}
{{- define "pulse.metadata" -}}
name: {{ .name }}
namespace: {{ default .root.Release.Namespace .namespace }}
labels:
  {{- include "pulse.labels" . | nindent 2 }}
  {{- if and .monitoring .root.Values.monitoring.prometheusReleaseLabel }}
  release: {{ .root.Values.monitoring.prometheusReleaseLabel | quote }}
  {{- end }}
  {{- with .labels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- $annotations := merge (dict) (default (dict) .annotations) .root.Values.commonAnnotations }}
{{- with $annotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* "pulse.image" (dict "image" .Values.image "defaultTag" .Chart.AppVersion) */}}
{{- define "pulse.image" -}}
{{- $ref := printf "%s/%s" .image.registry .image.repository -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $ref .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $ref (toString (default .defaultTag .image.tag)) -}}
{{- end -}}
{{- end -}}

{{- define "pulse.imagePullSecrets" -}}
{{- with .Values.image.pullSecrets -}}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- end -}}

{{- define "pulse.serviceAccountName" -}}
{{- if eq .component "operator" -}}
{{- include "pulse.componentName" . -}}
{{- else -}}
{{- include "pulse.fullname" .root -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the write service's bootstrap admin key, and its key. */}}
{{- define "pulse.adminSecretName" -}}
{{- default (include "pulse.componentName" (dict "root" . "component" "admin")) .Values.auth.existingSecret -}}
{{- end -}}
{{- define "pulse.adminSecretKey" -}}
{{- if .Values.auth.existingSecret -}}{{ .Values.auth.existingSecretKey }}{{- else -}}admin-key{{- end -}}
{{- end -}}

{{/* Kafka: the Strimzi Kafka resource is named after the release; its bootstrap service follows. */}}
{{- define "pulse.kafkaBootstrapServers" -}}
{{- if .Values.kafka.strimzi.enabled -}}
{{- printf "%s-kafka-bootstrap:9092" (include "pulse.fullname" .) -}}
{{- else -}}
{{- .Values.kafka.bootstrapServers -}}
{{- end -}}
{{- end -}}

{{- define "pulse.serviceUrl" -}}
{{- printf "http://%s:%v" (include "pulse.componentName" .) (index .root.Values .component).port -}}
{{- end -}}

{{/* ---- Environment of the services (their config.ts files name every variable) ---- */}}

{{/* A database URL from the secret CloudNativePG generates for a cluster (<cluster>-app, key uri: the -rw service). */}}
{{- define "pulse.env.databaseUrl" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .cluster }}-app
      key: uri
{{- end -}}

{{- define "pulse.env.writeDatabase" -}}
{{ include "pulse.env.databaseUrl" (dict "name" "PULSE_WRITE_DATABASE_URL" "cluster" (include "pulse.writeCluster" .)) }}
{{- end -}}

{{- define "pulse.env.projectionDatabase" -}}
{{ include "pulse.env.databaseUrl" (dict "name" "PULSE_PROJECTION_DATABASE_URL" "cluster" (include "pulse.projectionCluster" .)) }}
{{- end -}}

{{/*
The read replicas: the same credentials as -rw, through the <cluster>-ro service. CloudNativePG
generates alphanumeric passwords, so they go into the URL without escaping.
*/}}
{{- define "pulse.env.replicaDatabase" -}}
{{- $cluster := include "pulse.writeCluster" . -}}
{{- range $variable, $key := dict "REPLICA_DB_USERNAME" "username" "REPLICA_DB_PASSWORD" "password" "REPLICA_DB_NAME" "dbname" }}
- name: {{ $variable }}
  valueFrom:
    secretKeyRef:
      name: {{ $cluster }}-app
      key: {{ $key }}
{{- end }}
- name: PULSE_REPLICA_DATABASE_URL
  value: postgresql://$(REPLICA_DB_USERNAME):$(REPLICA_DB_PASSWORD)@{{ $cluster }}-ro:5432/$(REPLICA_DB_NAME)
{{- end -}}

{{- define "pulse.env.kafka" -}}
- name: PULSE_KAFKA_BROKERS
  value: {{ include "pulse.kafkaBootstrapServers" . | quote }}
- name: PULSE_KAFKA_TOPIC
  value: {{ .Values.kafka.topic | quote }}
- name: PULSE_PROJECTOR_GROUP
  value: {{ .Values.kafka.consumerGroup | quote }}
{{- end -}}

{{/* "pulse.env" (dict "root" $ "component" "write"): the component's variables, then its extraEnv. */}}
{{- define "pulse.env" -}}
{{- $root := .root -}}
{{- $values := index $root.Values .component -}}
- name: PULSE_HTTP_PORT
  value: {{ $values.port | quote }}
- name: PULSE_LOG_LEVEL
  value: {{ $root.Values.logLevel | quote }}
{{- with $values.shutdownGraceMs }}
- name: PULSE_SHUTDOWN_GRACE_MS
  value: {{ . | quote }}
{{- end }}
{{- if eq .component "write" }}
{{ include "pulse.env.writeDatabase" $root }}
- name: PULSE_BOOTSTRAP_ADMIN_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "pulse.adminSecretName" $root }}
      key: {{ include "pulse.adminSecretKey" $root }}
{{- else if eq .component "replicator" }}
{{ include "pulse.env.writeDatabase" $root }}
{{ include "pulse.env.projectionDatabase" $root }}
{{ include "pulse.env.kafka" $root }}
- name: PULSE_KAFKA_PARTITIONS
  value: {{ $root.Values.kafka.partitions | quote }}
- name: PULSE_KAFKA_REPLICATION_FACTOR
  value: {{ $root.Values.kafka.replicationFactor | quote }}
- name: PULSE_KAFKA_MAX_MESSAGE_BYTES
  value: {{ $root.Values.kafka.maxMessageBytes | int64 | quote }}
{{- else if eq .component "read" }}
{{ include "pulse.env.writeDatabase" $root }}
{{ include "pulse.env.replicaDatabase" $root | trim }}
{{ include "pulse.env.projectionDatabase" $root }}
{{ include "pulse.env.kafka" $root }}
{{- else if eq .component "operator" }}
- name: PULSE_OPERATOR_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: PULSE_LEADER_ELECTION_LEASE_NAME
  value: {{ include "pulse.componentName" . }}
{{- with $values.nodeOptions }}
{{- /* A small young generation and two malloc arenas: RSS of an operator with 500 ReplicationLags
  from about 200 to about 165 MB at the same CPU (docs/benchmarks/2026-11-22-operator-64b66bd-small-heap.md). */}}
- name: NODE_OPTIONS
  value: {{ . | quote }}
- name: MALLOC_ARENA_MAX
  value: "2"
{{- end }}
{{- end }}
{{- with $values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* ---- Pods ---- */}}

{{- define "pulse.topologySpread" -}}
{{- if .root.Values.topologySpread.enabled -}}
topologySpreadConstraints:
  {{- range .root.Values.topologySpread.topologyKeys }}
  - maxSkew: {{ $.root.Values.topologySpread.maxSkew }}
    topologyKey: {{ . }}
    whenUnsatisfiable: {{ $.root.Values.topologySpread.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "pulse.selectorLabels" $ | nindent 8 }}
    matchLabelKeys:
      - pod-template-hash
  {{- end }}
{{- end }}
{{- end -}}

{{/*
A Deployment of one component ("write", "read", "replicator", "operator"). Every container runs
the same image with the component as its argument. The replicator's values have no replicaCount,
so its Deployment has no replicas field and the operator owns the count.
*/}}
{{- define "pulse.deployment" -}}
{{- $root := .root -}}
{{- $values := index $root.Values .component -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  {{- include "pulse.metadata" (dict "root" $root "name" (include "pulse.componentName" .) "component" .component) | nindent 2 }}
spec:
  {{- if hasKey $values "replicaCount" }}
  replicas: {{ $values.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "pulse.selectorLabels" . | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 25%
  template:
    metadata:
      labels:
        {{- include "pulse.labels" . | nindent 8 }}
        {{- with $values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $values.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      serviceAccountName: {{ include "pulse.serviceAccountName" . }}
      automountServiceAccountToken: {{ eq .component "operator" }}
      {{- with include "pulse.imagePullSecrets" $root }}{{ . | nindent 6 }}{{ end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      terminationGracePeriodSeconds: {{ $values.terminationGracePeriodSeconds }}
      {{- with include "pulse.topologySpread" . }}{{ . | nindent 6 }}{{ end }}
      {{- with $values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .component }}
          image: {{ include "pulse.image" (dict "image" $root.Values.image "defaultTag" $root.Chart.AppVersion) }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: [{{ .component | quote }}]
          env:
            {{- include "pulse.env" . | nindent 12 }}
          ports:
            - name: http
              containerPort: {{ $values.port }}
              protocol: TCP
          # Migrations run before the server listens: give the first start time.
          startupProbe:
            httpGet:
              path: /livez
              port: http
            periodSeconds: 2
            failureThreshold: 60
          livenessProbe:
            httpGet:
              path: /livez
              port: http
            periodSeconds: 10
            timeoutSeconds: 2
            failureThreshold: 3
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
            periodSeconds: 5
            timeoutSeconds: 2
            failureThreshold: 2
          # SIGTERM turns /readyz to 503 and drains; the sleep lets endpoints drop the pod first.
          lifecycle:
            preStop:
              sleep:
                seconds: 5
          resources:
            {{- toYaml $values.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.containerSecurityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
{{- end -}}

{{/*
The pod of a k6 run (the helm test and the k6 Jobs): one script of the scripts ConfigMap against
the release's write and read services, with the bootstrap admin key to create a tenant.
"pulse.k6.podSpec" (dict "root" $ "script" "smoke.js" "env" (dict ...))
*/}}
{{- define "pulse.k6.podSpec" -}}
{{- $root := .root -}}
{{- $k6 := $root.Values.k6 -}}
restartPolicy: Never
automountServiceAccountToken: false
{{- with include "pulse.imagePullSecrets" $root }}{{ . | nindent 0 }}{{ end }}
securityContext:
  runAsNonRoot: true
  runAsUser: 12345
  runAsGroup: 12345
  seccompProfile:
    type: RuntimeDefault
containers:
  - name: k6
    image: {{ include "pulse.image" (dict "image" $k6.image "defaultTag" $k6.image.tag) }}
    imagePullPolicy: {{ $k6.image.pullPolicy }}
    args: ["run", "--no-usage-report", "/scripts/{{ .script }}"]
    env:
      - name: PULSE_WRITE_URL
        value: {{ include "pulse.serviceUrl" (dict "root" $root "component" "write") }}
      - name: PULSE_READ_URL
        value: {{ include "pulse.serviceUrl" (dict "root" $root "component" "read") }}
      - name: PULSE_ADMIN_KEY
        valueFrom:
          secretKeyRef:
            name: {{ include "pulse.adminSecretName" $root }}
            key: {{ include "pulse.adminSecretKey" $root }}
      {{- range $name, $value := .env }}
      - name: {{ $name }}
        value: {{ $value | quote }}
      {{- end }}
    resources:
      {{- toYaml $k6.jobs.resources | nindent 6 }}
    securityContext:
      {{- toYaml $root.Values.containerSecurityContext | nindent 6 }}
    volumeMounts:
      - name: scripts
        mountPath: /scripts
        readOnly: true
      - name: tmp
        mountPath: /tmp
volumes:
  - name: scripts
    configMap:
      name: {{ include "pulse.componentName" (dict "root" $root "component" "k6-scripts") }}
      items:
        {{- range $path, $_ := $root.Files.Glob (include "pulse.k6.scriptsGlob" $root) }}
        - key: {{ base $path }}
          path: {{ base $path }}
        {{- end }}
        {{- range $path, $_ := $root.Files.Glob (include "pulse.k6.libGlob" $root) }}
        - key: lib.{{ base $path }}
          path: lib/{{ base $path }}
        {{- end }}
  - name: tmp
    emptyDir:
      sizeLimit: 64Mi
{{- end -}}

{{/* The scripts under load/ (a symlink in files/ keeps one copy in the repository). */}}
{{- define "pulse.k6.scriptsGlob" -}}files/load/*.js{{- end -}}
{{- define "pulse.k6.libGlob" -}}files/load/lib/*.js{{- end -}}

{{/* A script file name as a DNS label: backlog-drain.js -> backlog-drain */}}
{{- define "pulse.k6.scriptId" -}}
{{- base . | trimSuffix ".js" | lower | replace "_" "-" | replace "." "-" | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* Egress to the cluster DNS, which every pod needs to resolve service names. */}}
{{- define "pulse.networkPolicy.dns" -}}
- ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
  to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: kube-system
      podSelector:
        matchLabels:
          k8s-app: kube-dns
{{- end -}}
