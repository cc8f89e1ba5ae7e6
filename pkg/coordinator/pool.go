package coordinator

import "sync"

// pool runs functions on at most n goroutines and keeps the first error, calling onErr once with it.
type pool struct {
	sem   chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	first error
	onErr func()
}

func newPool(n int, onErr func()) *pool { return &pool{sem: make(chan struct{}, n), onErr: onErr} }

// do runs f once a goroutine is free, blocking until one is.
func (p *pool) do(f func() error) {
	p.sem <- struct{}{}
	p.wg.Add(1)
	go func() {
		defer func() { <-p.sem; p.wg.Done() }()
		if err := f(); err != nil {
			p.mu.Lock()
			if p.first == nil {
				p.first = err
				p.onErr()
			}
			p.mu.Unlock()
		}
	}()
}

func (p *pool) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.first
}

// wait waits for every function started and returns the first error.
func (p *pool) wait() error {
	p.wg.Wait()
	return p.err()
}
