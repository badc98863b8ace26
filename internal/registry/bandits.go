package registry

import (
	"context"
	"encoding/json"
	"time"

	"github.com/sluicehq/sluice/internal/traffic"
)

// banditEntry is one endpoint's bandit: its configuration (a new
// configuration starts a new bandit) and learning state.
type banditEntry struct {
	config string
	state  traffic.BanditState
	dirty  bool // rewards arrived since the last save
}

// banditFor returns the endpoint's bandit for cfg, restoring saved state
// on first use so learning survives restarts.
func (s *Service) banditFor(ctx context.Context, endpoint string, cfg traffic.Bandit) (traffic.BanditState, error) {
	key, _ := json.Marshal(cfg)
	s.banditMu.Lock()
	defer s.banditMu.Unlock()
	if e := s.bandits[endpoint]; e != nil && e.config == string(key) {
		return e.state, nil
	}
	saved, err := s.db.LoadBanditState(ctx, endpoint)
	if err != nil {
		return nil, err
	}
	st, err := traffic.NewBandit(cfg, saved)
	if err != nil && saved != nil {
		// The arms or algorithm changed: the saved state no longer applies.
		s.log.Info("starting a new bandit: saved state does not fit the new configuration", "endpoint", endpoint, "err", err)
		st, err = traffic.NewBandit(cfg, nil)
	}
	if err != nil {
		return nil, err
	}
	s.bandits[endpoint] = &banditEntry{config: string(key), state: st}
	return st, nil
}

// Reward records a reward for the version of a bandit endpoint that
// answered a request (feedback joins call it).
func (s *Service) Reward(endpoint string, version int, reward float64) {
	s.banditMu.Lock()
	e := s.bandits[endpoint]
	if e != nil {
		e.dirty = true
	}
	s.banditMu.Unlock()
	if e != nil {
		e.state.Reward(version, reward)
	}
}

// BanditShares returns an endpoint's current bandit shares, or nil.
func (s *Service) BanditShares(endpoint string) map[int]float64 {
	s.banditMu.Lock()
	defer s.banditMu.Unlock()
	if e := s.bandits[endpoint]; e != nil {
		return e.state.Shares()
	}
	return nil
}

// saveBandits stores the state of every bandit that learned something
// since the last save.
func (s *Service) saveBandits(ctx context.Context) {
	s.banditMu.Lock()
	var todo []string
	states := map[string]traffic.BanditState{}
	for name, e := range s.bandits {
		if e.dirty {
			e.dirty = false
			todo = append(todo, name)
			states[name] = e.state
		}
	}
	s.banditMu.Unlock()
	for _, name := range todo {
		snap, err := states[name].Snapshot()
		if err == nil {
			err = s.db.SaveBanditState(ctx, name, snap)
		}
		if err != nil {
			s.log.Warn("saving bandit state", "endpoint", name, "err", err)
			s.banditMu.Lock()
			if e := s.bandits[name]; e != nil {
				e.dirty = true
			}
			s.banditMu.Unlock()
		}
	}
}

// SaveBandits stores every bandit's state now (at shutdown).
func (s *Service) SaveBandits(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s.saveBandits(ctx)
}
