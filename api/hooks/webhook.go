package hooks

import "time"

// DefaultVacatedDelay is how long a topic stays empty before
// topic_vacated is sent (HERALD_WEBHOOK_VACATED_DELAY).
const DefaultVacatedDelay = 5 * time.Second
