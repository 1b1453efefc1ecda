//! Manifests for the `describe` golden tests (kept apart so the tests read on one screen).

pub const OBJECTS: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
  annotations: {note: hello}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: busybox
        command: ["sleep", "3600"]
        ports: [{containerPort: 8080}]
        env: [{name: A, value: b}, {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
        resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {memory: 128Mi}}
        readinessProbe: {httpGet: {path: /healthz, port: 8080}}
---
apiVersion: v1
kind: Service
metadata: {name: web, labels: {tier: front}}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080, name: http}, {port: 81, targetPort: metrics, name: m, protocol: UDP}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, labels: {a: b, c: d}}
data: {multi: "line1\nline2\n"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg2}
data: {a: b}
---
apiVersion: v1
kind: Secret
metadata: {name: sec}
data: {user: YWRtaW4=, pass: c2VjcmV0MTIz}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: ing, annotations: {a: b}}
spec:
  tls: [{hosts: [a.com, b.com], secretName: tls1}, {hosts: [c.com]}]
  defaultBackend: {service: {name: web, port: {name: http}}}
  rules:
  - host: foo.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /api, pathType: Prefix, backend: {service: {name: nosvc, port: {number: 81}}}}
  - http:
      paths:
      - {path: /x, pathType: Exact, backend: {resource: {apiGroup: k8s.example.com, kind: Bucket, name: b1}}}
---
apiVersion: v1
kind: Node
metadata: {name: fake-node, labels: {node-role.kubernetes.io/worker: "", kubernetes.io/hostname: fake-node}}
spec:
  taints: [{key: k1, value: v1, effect: NoSchedule}, {key: a, effect: NoExecute}]
  podCIDR: 10.42.5.0/24
  podCIDRs: [10.42.5.0/24]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}, annotations: {x: "yes-really"}}
    spec:
      serviceAccountName: default
      nodeSelector: {disk: ssd}
      tolerations: [{key: k1, operator: Equal, value: v1, effect: NoSchedule}]
      initContainers: [{name: init, image: busybox, args: ["echo", "hi\nthere"]}]
      containers:
      - name: db
        image: busybox
        ports: [{containerPort: 5432, name: pg}, {containerPort: 9000, hostPort: 9000}]
        livenessProbe: {exec: {command: [cat, /tmp/ok]}, periodSeconds: 5}
        startupProbe: {tcpSocket: {port: pg}}
        envFrom: [{configMapRef: {name: cfg}}, {secretRef: {name: sec, optional: true}, prefix: S_}]
        env:
        - {name: MULTI, value: "a\nb"}
        - {name: CPU, valueFrom: {resourceFieldRef: {resource: limits.cpu}}}
        - {name: SK, valueFrom: {secretKeyRef: {name: sec, key: user}}}
        - {name: CK, valueFrom: {configMapKeyRef: {name: cfg, key: key1, optional: false}}}
        volumeMounts: [{name: data, mountPath: /data}, {name: cfg, mountPath: /etc/cfg, readOnly: true, subPath: sub}]
      volumes:
      - {name: cfg, configMap: {name: cfg}}
      - {name: sec, secret: {secretName: sec, optional: true}}
      - {name: tmp, emptyDir: {medium: Memory, sizeLimit: 1Gi}}
      - {name: host, hostPath: {path: /var/log, type: Directory}}
      - {name: claim, persistentVolumeClaim: {claimName: data-db-0, readOnly: true}}
      - name: proj
        projected:
          sources:
          - serviceAccountToken: {expirationSeconds: 3607, path: token}
          - configMap: {name: kube-root-ca.crt, items: [{key: ca.crt, path: ca.crt}]}
          - downwardAPI: {items: [{path: namespace, fieldRef: {apiVersion: v1, fieldPath: metadata.namespace}}]}
      - name: dapi
        downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}, {path: cpu, resourceFieldRef: {containerName: db, resource: limits.cpu}}]}
      topologySpreadConstraints: [{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: db}}}]
  volumeClaimTemplates:
  - metadata: {name: data, labels: {a: b}}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchExpressions: [{key: app, operator: In, values: [agent, b]}, {key: tier, operator: Exists}]}
  template:
    metadata: {labels: {app: agent, tier: x}}
    spec:
      nodeSelector: {kubernetes.io/os: linux}
      containers: [{name: a, image: busybox}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: job1}
spec:
  completions: 3
  parallelism: 2
  completionMode: Indexed
  backoffLimit: 2
  ttlSecondsAfterFinished: 100
  activeDeadlineSeconds: 600
  template:
    spec:
      restartPolicy: Never
      containers: [{name: j, image: busybox, command: ["true"]}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: cj}
spec:
  schedule: "*/5 * * * *"
  startingDeadlineSeconds: 30
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: c, image: busybox}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: manual}
subsets:
- addresses: [{ip: 10.1.1.1}, {ip: 10.1.1.2}]
  notReadyAddresses: [{ip: 10.1.1.3}]
  ports: [{port: 80, name: http}, {port: 443}]
- addresses: [{ip: 10.2.2.2}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: robot}
secrets: [{name: sec}, {name: missing}]
imagePullSecrets: [{name: pull1}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data-db-0}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}, storageClassName: fast}
---
apiVersion: v1
kind: Namespace
metadata: {name: limits}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: q1, namespace: limits}
spec: {hard: {pods: "10", requests.cpu: "2", requests.memory: 1Gi}, scopes: [NotTerminating]}
---
apiVersion: v1
kind: LimitRange
metadata: {name: lr, namespace: limits}
spec:
  limits: [{type: Container, default: {cpu: 500m}, defaultRequest: {cpu: 100m}, max: {cpu: "2"}}]
"#;

/// Kinds with their own describers beyond the everyday ones.
pub const MORE: &str = r#"
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: pdb1}
spec: {minAvailable: 1, selector: {matchLabels: {app: web}}}
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: high, annotations: {a: b}}
value: 1000
preemptionPolicy: Never
description: "important"
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: rb1}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: c1}
subjects: [{kind: ServiceAccount, name: robot, namespace: default}, {kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: r1}
rules:
- apiGroups: ["", apps]
  resources: [pods, deployments, pods/log]
  verbs: [get, list]
- apiGroups: [""]
  resources: [pods]
  verbs: [watch]
- apiGroups: [""]
  resources: [configmaps]
  resourceNames: [a, b]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: c1}
rules:
- nonResourceURLs: [/healthz, /metrics]
  verbs: [get]
- apiGroups: ["*"]
  resources: ["*"]
  verbs: ["*"]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 5
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
  - type: Resource
    resource: {name: memory, target: {type: AverageValue, averageValue: 100Mi}}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 60
      policies: [{type: Pods, value: 1, periodSeconds: 30}]
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: fast, annotations: {storageclass.kubernetes.io/is-default-class: "true"}}
provisioner: example.com/fast
parameters: {type: ssd}
reclaimPolicy: Retain
volumeBindingMode: WaitForFirstConsumer
mountOptions: [debug]
allowedTopologies: [{matchLabelExpressions: [{key: zone, values: [a, b]}]}]
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: nginx}
spec: {controller: example.com/ingress, parameters: {apiGroup: k8s.example.com, kind: Params, name: p1}}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv1}
spec:
  capacity: {storage: 5Gi}
  accessModes: [ReadWriteOnce, ReadOnlyMany]
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: /mnt/data}
  nodeAffinity: {required: {nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [n1]}]}]}}
---
apiVersion: v1
kind: ReplicationController
metadata: {name: rc1}
spec:
  replicas: 1
  selector: {app: rc1}
  template:
    metadata: {labels: {app: rc1}}
    spec: {containers: [{name: c, image: busybox}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: np1}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from:
    - ipBlock: {cidr: 172.17.0.0/16, except: [172.17.1.0/24]}
    - namespaceSelector: {matchLabels: {project: p}}
      podSelector: {matchLabels: {role: fe}}
    - podSelector: {matchLabels: {role: x}}
    ports: [{protocol: TCP, port: 6379}, {port: 8000, endPort: 9000}]
  - {}
  egress: []
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: np2}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress: [{ports: [{protocol: UDP}]}]
"#;

/// A certificate request (CN alice, O dev and ops, C US; DNS, IP, email and URI names),
/// made with openssl.
pub const CSR: &str = r#"
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {name: alice, labels: {a: b}}
spec:
  request: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0KTUlJQlB6Q0I1UUlCQURBNU1RNHdEQVlEVlFRRERBVmhiR2xqWlRFTU1Bb0dBMVVFQ2d3RFpHVjJNUXd3Q2dZRApWUVFLREFOdmNITXhDekFKQmdOVkJBWVRBbFZUTUZrd0V3WUhLb1pJemowQ0FRWUlLb1pJemowREFRY0RRZ0FFCnlkZTF2MDhSdUUvdHBFaDMzbEphU0tMVnRGL2huT2VOV3B5Yjh2bUhwV0hzd2RRUGx6UmhYWWExK0M2YXJ3SnIKYmsydDI3SU1JUHZuTVkyY1d1TGJYS0JLTUVnR0NTcUdTSWIzRFFFSkRqRTdNRGt3TndZRFZSMFJCREF3TG9JSgpZUzVsZUdGdGNHeGxod1FLQUFBQmdRMWhRR1Y0WVcxd2JHVXVZMjl0aGd4emNHbG1abVU2THk5NEwza3dDZ1lJCktvWkl6ajBFQXdJRFNRQXdSZ0loQVA0MHFXcDh0TjZmMEtsRHdWVkt3dVhJMk1MMTh0ZFFlR1ZUd3dMeTZjenEKQWlFQXhKdFU3RFVIWXhQeFk2YVVyNjY4M2oyYkk2akx5Vm1Tb1pEbXNyWEhTZ0E9Ci0tLS0tRU5EIENFUlRJRklDQVRFIFJFUVVFU1QtLS0tLQo=
  signerName: kubernetes.io/kube-apiserver-client
  expirationSeconds: 86400
  usages: [client auth]
"#;

pub const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"#;

pub const WIDGET: &str = r#"
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, labels: {color: blue}, annotations: {owner: me}}
spec:
  size: 3
  ratio: 1.5
  enabled: true
  tags: [a, b]
  podIPs: [x]
  ports: [{name: http, containerPort: 80}]
  nested: {apiVersion: v2, someURL: "http://x", empty: null}
status:
  phase: Ready
"#;

pub const RUNNING: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: sleeper}
spec:
  replicas: 2
  selector: {matchLabels: {app: sleeper}}
  template:
    metadata: {labels: {app: sleeper}}
    spec:
      containers:
      - name: main
        image: busybox:e2e
        command: ["sleep", "3600"]
        resources:
          requests: {cpu: 50m, memory: 16Mi}
          limits: {cpu: 200m, memory: 64Mi}
---
apiVersion: v1
kind: Pod
metadata: {name: crasher}
spec:
  containers:
  - name: c
    image: busybox:e2e
    command: ["sh", "-c", "exit 3"]
---
apiVersion: v1
kind: Service
metadata: {name: sleeper}
spec:
  selector: {app: sleeper}
  ports: [{name: http, port: 80, targetPort: 8080}, {name: other, port: 81, targetPort: 8081}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: sleeper}
spec:
  rules:
  - host: sleeper.example
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: sleeper, port: {name: http}}}}
      - {path: /o, pathType: Prefix, backend: {service: {name: sleeper, port: {number: 81}}}}
"#;
