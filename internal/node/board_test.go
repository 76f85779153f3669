package node_test

import (
	"github.com/herald-broker/herald/api"
	"github.com/herald-broker/herald/store/memory"
	"github.com/herald-broker/herald/store/redis"
)

// Both stores are stats boards, so Build shares every node's stats.
var (
	_ api.StatsBoard = (*memory.Engine)(nil)
	_ api.StatsBoard = (*redis.Engine)(nil)
)
