package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
)

// Spawner starts worker processes. The real one re-runs this executable
// as "worker"; tests run workers in-process.
type Spawner interface {
	Spawn(ctx context.Context, index int) (*WorkerProc, error)
}

// WorkerProc is one running worker: the parent writes the plan and
// commands to Stdin and reads events from Stdout.
type WorkerProc struct {
	Stdin  io.WriteCloser
	Stdout io.ReadCloser
	PID    int          // 0 when the worker runs in this process
	Wait   func() error // returns once the worker has exited
	Kill   func()       // ends it at once
}

// ExecSpawner re-executes the running binary with the argument "worker".
type ExecSpawner struct{}

// Spawn starts one worker process; its stderr is ours. It is not tied to
// ctx: the fleet ends it, after it had its chance to report.
func (ExecSpawner) Spawn(_ context.Context, index int) (*WorkerProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("herald/bench: finding own executable: %w", err)
	}
	cmd := exec.Command(self, "worker")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("herald/bench: worker %d: %w", index, err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("herald/bench: worker %d: %w", index, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("herald/bench: starting worker %d: %w", index, err)
	}
	return &WorkerProc{
		Stdin: in, Stdout: out, PID: cmd.Process.Pid,
		Wait: cmd.Wait,
		Kill: func() { _ = cmd.Process.Kill() },
	}, nil
}

// InProcessSpawner runs each worker as goroutines of this process, over
// pipes, exactly as a process would see its stdin and stdout.
type InProcessSpawner struct{}

// Spawn starts RunWorker on a pair of pipes. Like a process, the worker
// is not tied to ctx: it ends by its plan's deadline, when told, or when
// killed.
func (InProcessSpawner) Spawn(ctx context.Context, index int) (*WorkerProc, error) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() {
		err := RunWorker(ctx, inR, outW)
		inR.Close()
		outW.CloseWithError(io.EOF)
		done <- err
	}()
	var werr error
	waited := false
	wait := func() error {
		if !waited {
			werr, waited = <-done, true
			cancel()
		}
		return werr
	}
	return &WorkerProc{Stdin: inW, Stdout: outR, Wait: wait, Kill: cancel}, nil
}
