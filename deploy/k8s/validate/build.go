// Package validate checks deploy/k8s without a cluster: each overlay is built with kustomize, every object is decoded
// strictly into the Kubernetes API's and KEDA's own Go types, and the tests hold the manifests to what the binaries
// define (flags, probe paths, queue names, the memory budget). It is its own Go module so that the Kubernetes
// libraries never enter the main module's dependencies.
package validate

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Kustomize is the kustomize binary: $KUSTOMIZE, else the one scripts/setup.sh installs into the cache.
func Kustomize() (string, error) {
	if p := os.Getenv("KUSTOMIZE"); p != "" {
		return p, nil
	}
	return CacheBin("kustomize")
}

// CacheBin is a tool scripts/setup.sh installs into $FACEFLEET_CACHE/bin (default ~/.cache/facefleet/bin).
func CacheBin(name string) (string, error) {
	cache := os.Getenv("FACEFLEET_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("%s: no $FACEFLEET_CACHE or home directory: %w", name, err)
		}
		cache = filepath.Join(home, ".cache", "facefleet")
	}
	p := filepath.Join(cache, "bin", name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s: %w (make setup installs it)", name, err)
	}
	return p, nil
}

// Build runs `kustomize build dir` and returns its YAML. It reads only dir's files: nothing remote is referenced.
func Build(kustomize, dir string) ([]byte, error) {
	var out, stderr bytes.Buffer
	cmd := exec.Command(kustomize, "build", dir)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w: %s", dir, err, bytes.TrimSpace(stderr.Bytes()))
	}
	if out.Len() == 0 {
		return nil, errors.New("kustomize build " + dir + ": no objects")
	}
	return out.Bytes(), nil
}
