package bench

import (
	"os"
	"testing"
)

func TestProcOfThisProcess(t *testing.T) {
	if kib, err := ProcRSS(os.Getpid()); err != nil || kib <= 0 {
		t.Errorf("RSS %d, %v", kib, err)
	}
	if _, err := ProcCPU(os.Getpid()); err != nil {
		t.Errorf("CPU: %v", err)
	}
	if _, err := ProcRSS(1 << 30); err == nil {
		t.Errorf("RSS of a process that does not exist")
	}
}
