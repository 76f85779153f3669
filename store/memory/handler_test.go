package memory

import "github.com/herald-broker/herald/broker"

// handlerFunc is a Handler that runs a function per message.
type handlerFunc func()

func (f handlerFunc) HandleMessage(*broker.Message)        { f() }
func (f handlerFunc) HandleGap(broker.Gap)                 { f() }
func (f handlerFunc) HandlePresence(broker.PresenceChange) {}
func (f handlerFunc) HandleControl(broker.Control)         {}

type (
	brokerRequest = broker.PublishRequest
	brokerResult  = broker.PublishResult
)
