package e2e

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func signalContext() context.Context {
	ctx, _ := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	return ctx
}
