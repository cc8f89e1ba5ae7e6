package validate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a reporter that keeps what a check reports; Fatal ends the check (recorder.run recovers).
type recorder struct{ errs []string }

var errFatal = errors.New("fatal")

func (r *recorder) Helper()             {}
func (r *recorder) Log(...any)          {}
func (r *recorder) Logf(string, ...any) {}
func (r *recorder) Error(args ...any)   { r.errs = append(r.errs, fmt.Sprint(args...)) }
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatal(args ...any)                 { r.Error(args...); panic(errFatal) }
func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...); panic(errFatal) }

func (r *recorder) run(f func()) {
	defer func() {
		if p := recover(); p != nil && p != errFatal {
			panic(p)
		}
	}()
	f()
}

// copyTree copies deploy/k8s's base, overlays and components, deploy/grafana and docs/DEPLOY.md under dst, at the
// same relative paths.
func copyTree(t *testing.T, dst string) {
	t.Helper()
	for _, rel := range []string{"deploy/k8s/base", "deploy/k8s/overlays", "deploy/k8s/components", "deploy/grafana", "docs/DEPLOY.md"} {
		src := filepath.Join(repoRoot, rel)
		err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			out := filepath.Join(dst, rel, strings.TrimPrefix(path, src))
			if d.IsDir() {
				return os.MkdirAll(out, 0o755)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				return err
			}
			return os.WriteFile(out, b, 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestChecksCatch holds the checks to their word: each mistake below, made in a copy of the manifests (or of
// DEPLOY.md; every occurrence of old replaced), is reported by the check named, with the words given; the real
// files pass the same checks (the other tests).
func TestChecksCatch(t *testing.T) {
	type check = func(reporter, *manifest, overlay)
	cases := []struct {
		name, overlay, file, old, new string
		check                         check
		want                          string
	}{
		{"unknown field", "local", "deploy/k8s/base/worker.yaml", "terminationGracePeriodSeconds: 240", "terminationGracePeriod: 240",
			checkOverlaysDecodeStrictly, `unknown field "spec.template.spec.terminationGracePeriod"`},
		{"unknown KEDA field", "gpu", "deploy/k8s/base/scaledobject.yaml", "cooldownPeriod: 300", "cooldown: 300",
			checkOverlaysDecodeStrictly, `unknown field "spec.cooldown"`},
		{"KEDA bounds", "local", "deploy/k8s/overlays/local/kustomization.yaml", "value: 2", "value: -1",
			checkOverlaysDecodeStrictly, "MaxReplicaCount"},
		{"a flag the worker lacks", "local", "deploy/k8s/base/worker.yaml", "- --slots\n", "- --frobnicate\n        - --slots\n",
			checkFacefleetCommandLines, "--frobnicate: the command defines no such flag"},
		{"a command the coordinator lacks", "gpu", "deploy/k8s/base/coordinator.yaml", "- serve\n", "- serv\n",
			checkFacefleetCommandLines, `runs "coordinator serv"`},
		{"a variable of no flag", "local", "deploy/k8s/base/kustomization.yaml", "FACEFLEET_LOG_FORMAT", "FACEFLEET_LOG_FROMAT",
			checkFacefleetCommandLines, "FACEFLEET_LOG_FROMAT is the variable of --log-fromat"},
		{"an undefined $(VAR)", "local", "deploy/k8s/base/coordinator.yaml", "$(POD_NAME)", "$(POD)",
			checkFacefleetCommandLines, "refers to $(POD)"},
		{"an image of another name", "gpu", "deploy/k8s/overlays/gpu/kustomization.yaml", "newName: facefleet-worker-gpu", "newName: facefleet-gpu-worker",
			checkFacefleetCommandLines, "none of the agreed names"},
		{"the CPU image on GPUs", "gpu", "deploy/k8s/overlays/gpu/kustomization.yaml", "newName: facefleet-worker-gpu", "newName: facefleet-worker",
			checkImages, "want facefleet-worker-gpu"},
		{"another consumer", "local", "deploy/k8s/base/scaledobject.yaml", "consumer: workers", "consumer: worker",
			checkScaledObjectFollowsTheQueue, `consumer = "worker", want "workers"`},
		{"another stream", "gpu", "deploy/k8s/base/scaledobject.yaml", "stream: FACEFLEET_TASKS", "stream: TASKS",
			checkScaledObjectFollowsTheQueue, `stream = "TASKS"`},
		{"lag threshold not the slots", "gpu", "deploy/k8s/overlays/gpu/kustomization.yaml", `value: "2"`, `value: "3"`,
			checkScaledObjectFollowsTheQueue, `lagThreshold = "3", want "2"`},
		{"no scale to zero", "local", "deploy/k8s/base/scaledobject.yaml", "minReplicaCount: 0", "minReplicaCount: 1",
			checkScaledObjectFollowsTheQueue, "minReplicaCount 1, want 0"},
		{"the client Service as endpoint", "gpu", "deploy/k8s/base/scaledobject.yaml", "nats-headless.facefleet", "nats.facefleet",
			checkScaledObjectFollowsTheQueue, "not headless"},
		{"monitoring on another port", "local", "deploy/k8s/base/nats.conf", "http_port: 8222", "http_port: 8223",
			checkScaledObjectFollowsTheQueue, "no http_port: 8222"},
		{"a variable the pod lacks", "local", "deploy/k8s/base/nats.conf", "$NATS_PASSWORD", "$NATS_PASS",
			checkNATS, "variable reference for 'NATS_PASS'"},
		{"a route missing", "gpu", "deploy/k8s/overlays/gpu/nats.conf", "    nats://nats-2.nats-headless:6222\n", "",
			checkNATS, "2 routes, want one per server (3)"},
		{"replicas below the servers", "gpu", "deploy/k8s/overlays/gpu/kustomization.yaml", "FACEFLEET_NATS_REPLICAS=3", "FACEFLEET_NATS_REPLICAS=1",
			checkNATS, `--nats-replicas "1", want 3`},
		{"--max-memory above the limit", "local", "deploy/k8s/base/worker.yaml", "- --grace\n", "- --max-memory\n        - \"8\"\n        - --grace\n",
			checkWorkerMemory, "is above the container's memory limit"},
		{"request below the limit", "local", "deploy/k8s/base/worker.yaml", "            memory: 4Gi\n            ephemeral-storage", "            memory: 3Gi\n            ephemeral-storage",
			checkWorkerMemory, "memory request 3Gi != limit 4Gi"},
		{"a slot under 1 GiB", "gpu", "deploy/k8s/overlays/gpu/worker-patch.yaml", "memory: 16Gi", "memory: 2Gi",
			checkWorkerMemory, "for 2 slots: under"},
		{"grace period too short", "local", "deploy/k8s/base/worker.yaml", "terminationGracePeriodSeconds: 240", "terminationGracePeriodSeconds: 200",
			checkWorkerShutdown, "terminationGracePeriodSeconds 200 < --grace 2m30s"},
		{"preStop at another port", "gpu", "deploy/k8s/base/worker.yaml", "- 127.0.0.1:8080", "- 127.0.0.1:9090",
			checkWorkerShutdown, "preStop"},
		{"a path no code serves", "local", "deploy/k8s/base/worker.yaml", "path: /readyz", "path: /ready",
			checkProbesAndPorts, "readiness probe: /ready on port http, want /readyz"},
		{"a port --http-addr does not give", "gpu", "deploy/k8s/base/coordinator.yaml", "containerPort: 8080", "containerPort: 8081",
			checkProbesAndPorts, "(--http-addr)"},
		{"an id that changes", "local", "deploy/k8s/base/coordinator.yaml", "- $(POD_NAME)\n", "- coordinator\n",
			checkCoordinatorIdentity, `--id "coordinator"`},
		{"GPU workers on the CPU", "gpu", "deploy/k8s/overlays/gpu/worker-patch.yaml", "- cuda", "- cpu",
			checkGPUPool, `--execution-provider "cpu", want cuda`},
		{"a Secret key nobody creates", "gpu", "docs/DEPLOY.md", "--from-literal=access-key=AKIA... ", "",
			checkReferences, "Secret facefleet-s3 has no key access-key"},
		{"a Secret key misspelt", "local", "deploy/k8s/base/worker.yaml", "key: bucket", "key: buckets",
			checkReferences, "has no key buckets"},
		{"any pod may reach NATS", "local", "deploy/k8s/base/networkpolicy.yaml", "operator: In", "operator: NotIn",
			checkNetworkPolicies, "stranger -> StatefulSet nats:4222: allowed true, want false"},
		{"KEDA's namespace shut out", "gpu", "deploy/k8s/base/networkpolicy.yaml", "kubernetes.io/metadata.name: keda", "kubernetes.io/metadata.name: kube-system",
			checkNetworkPolicies, "keda -> StatefulSet nats:8222: allowed false, want true"},
		{"no default deny", "local", "deploy/k8s/base/networkpolicy.yaml", "  podSelector: {}\n", "  podSelector: {matchLabels: {x: y}}\n",
			checkNetworkPolicies, "stranger -> a pod of no policy:8080: allowed true, want false"},
		{"S3 shut", "local", "deploy/k8s/overlays/local/s3.yaml", "- port: 7070", "- port: 7071",
			checkNetworkPolicies, "coordinator -> Deployment s3:7070: allowed false, want true"},
	}
	var ov = map[string]overlay{}
	for _, o := range overlays {
		ov[o.name] = o
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := mutatedCopy(t, c.file, c.old, c.new)
			var rec recorder
			rec.run(func() {
				m := buildOverlay(&rec, filepath.Join(dir, "deploy/k8s/overlays", c.overlay), filepath.Join(dir, "docs/DEPLOY.md"))
				c.check(&rec, m, ov[c.overlay])
			})
			wantReport(t, rec, c.want)
		})
	}
}

// mutatedCopy is a copy of the repository's deploy files (copyTree) in a temporary directory with old replaced by
// new in file: one deliberate mistake for a check to catch.
func mutatedCopy(t *testing.T, file, old, new string) string {
	t.Helper()
	dir := t.TempDir()
	copyTree(t, dir)
	path := filepath.Join(dir, file)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s has no %q: the case is out of date", file, old)
	}
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(b), old, new)), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// wantReport fails t unless one of rec's reports contains want.
func wantReport(t *testing.T, rec recorder, want string) {
	t.Helper()
	for _, e := range rec.errs {
		if strings.Contains(e, want) {
			return
		}
	}
	t.Errorf("not caught: want a report containing %q, got %q", want, rec.errs)
}
