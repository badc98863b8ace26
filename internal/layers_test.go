// Package internal_test holds rules about how Sluice's packages may depend
// on each other.
package internal_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/sluicehq/sluice/internal/"

// dataPlane packages serve requests; they must never depend on the control
// plane, so the hot path cannot reach the store, the registry or the API.
var dataPlane = []string{"inference", "oip", "traffic", "monitor", "gateway", "leanhttp", "netio", "batch", "stream", "edge"}

var controlPlane = []string{"store", "artifact", "audit", "auth", "registry", "analysis", "alert", "rollout", "federated", "jobs", "api", "server", "cli", "manifest", "advise"}

func under(pkg string, roots []string) bool {
	p := strings.TrimPrefix(pkg, module)
	for _, r := range roots {
		if p == r || strings.HasPrefix(p, r+"/") {
			return true
		}
	}
	return false
}

func TestDataPlaneDoesNotImportControlPlane(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, "github.com/sluicehq/sluice/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || !under(fields[0], dataPlane) {
			continue
		}
		checked++
		for _, dep := range fields[1:] {
			if strings.HasPrefix(dep, module) && under(dep, controlPlane) {
				t.Errorf("data-plane package %s depends on control-plane package %s", fields[0], dep)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no data-plane packages found; is the module path right?")
	}
}
