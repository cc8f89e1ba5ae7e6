package worker

import "go.uber.org/zap"

// warnIf logs a call's failure that nothing else would report: a lease that cannot be settled comes back when its
// AckWait ends and a note or a progress record is advisory, so none of them stops the work, but an operator must
// see that NATS refused it.
func warnIf(log *zap.Logger, what string, err error) {
	if err != nil {
		log.Warn(what+" failed", zap.Error(err))
	}
}
