package redis

import (
	"context"
	"errors"

	goredis "github.com/redis/go-redis/v9"
)

// ClientsClosed reports whether both of e's Redis clients were closed.
func ClientsClosed(e *Engine) bool {
	ctx := context.Background()
	return errors.Is(e.rdb.Ping(ctx).Err(), goredis.ErrClosed) && errors.Is(e.once.Ping(ctx).Err(), goredis.ErrClosed)
}
