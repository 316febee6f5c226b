//! What the request loop does next: after one attempt on one route, and when no route
//! can be tried any more. Pure decisions, table-tested; the loop in `mod.rs` does the
//! I/O they ask for.

use std::time::Duration;

use crate::auth::cooldown::{self, Outcome as Classified};
use crate::config::Config;
use crate::providers::Limit;

/// The retry settings (`request-retry`, `max-retry-interval`, `max-retry-credentials`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How many times to wait for a cooling route and go round again.
    pub request_retry: u32,
    /// Longest cooldown worth waiting for, in seconds.
    pub max_retry_interval: u64,
    /// Routes tried per round (0: all).
    pub max_credentials: usize,
}

impl Limits {
    pub fn of(cfg: &Config) -> Limits {
        Limits {
            request_retry: cfg.request_retry,
            max_retry_interval: cfg.max_retry_interval,
            max_credentials: cfg.max_retry_credentials as usize,
        }
    }
}

/// The kind of the failure the client would see if nothing else works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// An upstream error answer (passed through as received).
    Upstream,
    /// A connection or stream failure (reported in the gateway's own error).
    Transport,
}

/// What the loop knows when it decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopState {
    pub limits: Limits,
    /// Waits done so far; each starts a new round over all routes.
    pub waits: u32,
    /// Routes tried in this round.
    pub tried: usize,
    /// The latest failure kept for the final answer.
    pub last: Option<Failure>,
    /// The route being tried is an OAuth account (a refresh can cure a 401).
    pub oauth: bool,
    /// Cooldowns apply to the route being tried (`disable-cooling` off for it).
    pub cooling: bool,
    /// This route's request was already replayed after a refresh.
    pub replayed: bool,
}

impl LoopState {
    pub fn new(limits: Limits) -> LoopState {
        LoopState {
            limits,
            waits: 0,
            tried: 0,
            last: None,
            oauth: false,
            cooling: true,
            replayed: false,
        }
    }

    /// Whether another route may be tried in this round.
    pub fn may_try_another(&self) -> bool {
        self.limits.max_credentials == 0 || self.tried < self.limits.max_credentials
    }

    /// A route was picked.
    pub fn begin_route(&mut self, oauth: bool, cooling: bool) {
        self.tried += 1;
        self.oauth = oauth;
        self.cooling = cooling;
        self.replayed = false;
    }

    /// A wait is over: every route may be tried again.
    pub fn begin_round(&mut self) {
        self.waits += 1;
        self.tried = 0;
    }
}

/// How one attempt on one route ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer, already on its way.
    Success,
    /// The request cannot be put in the upstream's dialect.
    Untranslatable,
    /// The route could not be used (no token, provider not served); nothing was sent.
    Skipped,
    /// An upstream error answer; `level` is the route's current 429 repeat level,
    /// `limit` the cooldown the provider read from the answer itself.
    Upstream {
        status: u16,
        retry_after: Option<Duration>,
        level: u32,
        limit: Option<Limit>,
    },
    /// No answer (connection failed, stream died before its first byte).
    Transport(String),
}

/// Cool the route down for its model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cool {
    pub duration: Duration,
    pub reason: String,
    /// A 429: the repeat level grows.
    pub quota: bool,
}

/// What to do after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Answer the client with this attempt; a success clears the route's cooldown.
    Answer { clear_cooldown: bool },
    /// Refresh the token (single-flight) and send the same request once more.
    RefreshAndReplay,
    /// Try another route: cool this one first when `cool` says so, and keep this
    /// attempt as the last failure when `keep` says so.
    Next { cool: Option<Cool>, keep: bool },
}

/// What to do when no route can be tried now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exhausted {
    /// Sleep this long, then go round again.
    Wait(Duration),
    /// Return the last upstream error as it came.
    LastAnswer,
    /// 429 `model_cooldown`: everything cools down; the first is free after this.
    AllCooling(Duration),
    /// 503 `auth_unavailable`: nothing usable and nothing cooling.
    Unavailable,
}

/// Transport failures cool the route for this long.
pub const TRANSPORT_COOLDOWN: Duration = Duration::from_secs(60);

/// Slack added to a wait so the cooldown has surely expired when the loop wakes.
const WAIT_SLACK: Duration = Duration::from_millis(5);

/// The decision after one attempt.
pub fn after_attempt(st: &LoopState, outcome: Outcome) -> Step {
    match outcome {
        Outcome::Success => Step::Answer {
            clear_cooldown: true,
        },
        Outcome::Untranslatable => Step::Answer {
            clear_cooldown: false,
        },
        Outcome::Skipped => Step::Next {
            cool: None,
            keep: false,
        },
        Outcome::Upstream { status: 401, .. } if st.oauth && !st.replayed => Step::RefreshAndReplay,
        // The provider named the reset itself (a usage limit, a model at capacity).
        Outcome::Upstream {
            limit: Some(limit), ..
        } => Step::Next {
            cool: st.cooling.then_some(Cool {
                duration: limit.duration,
                reason: limit.reason,
                quota: true,
            }),
            keep: true,
        },
        Outcome::Upstream {
            status,
            retry_after,
            level,
            limit: None,
        } => match cooldown::classify(status, retry_after, level) {
            // The request itself is wrong: another account would say the same.
            Classified::InvalidRequest => Step::Answer {
                clear_cooldown: false,
            },
            Classified::Cooldown { duration, reason } => Step::Next {
                cool: st.cooling.then_some(Cool {
                    duration,
                    reason,
                    quota: status == 429,
                }),
                keep: true,
            },
            Classified::Retry => Step::Next {
                cool: None,
                keep: true,
            },
        },
        Outcome::Transport(reason) => Step::Next {
            cool: st.cooling.then_some(Cool {
                duration: TRANSPORT_COOLDOWN,
                reason,
                quota: false,
            }),
            keep: true,
        },
    }
}

/// The decision when no route can be tried now; `soonest` is when the first route
/// that is cooling (or waiting after a failed refresh) is usable again.
pub fn when_exhausted(st: &LoopState, soonest: Option<Duration>) -> Exhausted {
    if st.waits < st.limits.request_retry
        && let Some(wait) =
            soonest.filter(|w| w.as_secs_f64() <= st.limits.max_retry_interval as f64)
    {
        return Exhausted::Wait(wait + WAIT_SLACK);
    }
    match (st.last, soonest) {
        (Some(Failure::Upstream), _) => Exhausted::LastAnswer,
        (_, Some(wait)) => Exhausted::AllCooling(wait),
        (_, None) => Exhausted::Unavailable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn state() -> LoopState {
        let mut st = LoopState::new(Limits {
            request_retry: 0,
            max_retry_interval: 30,
            max_credentials: 0,
        });
        st.begin_route(false, true);
        st
    }

    fn upstream(status: u16) -> Outcome {
        Outcome::Upstream {
            status,
            retry_after: None,
            level: 0,
            limit: None,
        }
    }

    fn limited(status: u16, secs: u64, reason: &str) -> Outcome {
        Outcome::Upstream {
            status,
            retry_after: Some(S(5)),
            level: 2,
            limit: Some(Limit {
                duration: S(secs),
                reason: reason.into(),
            }),
        }
    }

    fn cool(secs: u64, reason: &str, quota: bool) -> Option<Cool> {
        Some(Cool {
            duration: S(secs),
            reason: reason.into(),
            quota,
        })
    }

    #[test]
    fn after_an_attempt() {
        let plain = state();
        let oauth = LoopState {
            oauth: true,
            ..state()
        };
        let replayed = LoopState {
            replayed: true,
            ..oauth.clone()
        };
        let no_cooling = LoopState {
            cooling: false,
            ..state()
        };
        let next = |cool, keep| Step::Next { cool, keep };
        let answer = |clear_cooldown| Step::Answer { clear_cooldown };
        #[rustfmt::skip]
        let table: Vec<(&str, &LoopState, Outcome, Step)> = vec![
            ("success answers and clears the cooldown", &plain, Outcome::Success, answer(true)),
            ("untranslatable request is the client's 400", &plain, Outcome::Untranslatable, answer(false)),
            ("400 passes through at once", &plain, upstream(400), answer(false)),
            ("422 passes through at once", &oauth, upstream(422), answer(false)),
            ("skipped route: next, nothing cooled or kept", &plain, Outcome::Skipped, next(None, false)),
            ("401 on OAuth: refresh and replay", &oauth, upstream(401), Step::RefreshAndReplay),
            ("401 after the replay: cool 30 min", &replayed, upstream(401), next(cool(1800, "unauthorized (401)", false), true)),
            ("401 on an API key: cool 30 min", &plain, upstream(401), next(cool(1800, "unauthorized (401)", false), true)),
            ("403: cool 30 min", &plain, upstream(403), next(cool(1800, "payment required / forbidden (403)", false), true)),
            ("404: cool 12 h", &plain, upstream(404), next(cool(43200, "model not found (404)", false), true)),
            ("429 without Retry-After backs off by level", &plain,
                Outcome::Upstream { status: 429, retry_after: None, level: 3, limit: None },
                next(cool(8, "rate limited (429)", true), true)),
            ("429 honours Retry-After", &plain,
                Outcome::Upstream { status: 429, retry_after: Some(S(7)), level: 5, limit: None },
                next(cool(7, "rate limited (429)", true), true)),
            ("503: cool 1 min", &plain, upstream(503), next(cool(60, "upstream error (503)", false), true)),
            ("usage limit: cool until its reset, days if need be", &plain,
                limited(429, 183600, "usage limit reached; resets in 2d 3h"),
                next(cool(183600, "usage limit reached; resets in 2d 3h", true), true)),
            ("model at capacity (any status): the provider's short cooldown", &oauth,
                limited(503, 15, "model is at capacity"),
                next(cool(15, "model is at capacity", true), true)),
            ("a limit without cooling: next, kept", &no_cooling,
                limited(429, 60, "x"), next(None, true)),
            ("disable-cooling: next without cooling, still kept", &no_cooling, upstream(503), next(None, true)),
            ("transport failure: cool 1 min with its reason", &plain,
                Outcome::Transport("upstream unreachable".into()),
                next(cool(60, "upstream unreachable", false), true)),
            ("transport failure without cooling", &no_cooling, Outcome::Transport("x".into()), next(None, true)),
        ];
        for (name, st, outcome, want) in table {
            assert_eq!(after_attempt(st, outcome), want, "{name}");
        }
    }

    #[test]
    fn when_nothing_is_left() {
        let limits = Limits {
            request_retry: 2,
            max_retry_interval: 30,
            max_credentials: 0,
        };
        let st = |waits, last| LoopState {
            waits,
            last,
            ..LoopState::new(limits)
        };
        let slack = WAIT_SLACK;
        #[rustfmt::skip]
        let table: Vec<(&str, LoopState, Option<Duration>, Exhausted)> = vec![
            ("short cooldown: wait for it", st(0, Some(Failure::Upstream)), Some(S(2)), Exhausted::Wait(S(2) + slack)),
            ("cooldown at the limit: still wait", st(1, None), Some(S(30)), Exhausted::Wait(S(30) + slack)),
            ("retries used up: the last upstream answer", st(2, Some(Failure::Upstream)), Some(S(2)), Exhausted::LastAnswer),
            ("too long to wait: the last upstream answer", st(0, Some(Failure::Upstream)), Some(S(31)), Exhausted::LastAnswer),
            ("too long to wait, no upstream answer: model_cooldown", st(0, Some(Failure::Transport)), Some(S(31)), Exhausted::AllCooling(S(31))),
            ("retries used up, nothing tried: model_cooldown", st(2, None), Some(S(5)), Exhausted::AllCooling(S(5))),
            ("nothing cooling, last was upstream: pass it", st(0, Some(Failure::Upstream)), None, Exhausted::LastAnswer),
            ("nothing cooling, nothing answered: unavailable", st(0, Some(Failure::Transport)), None, Exhausted::Unavailable),
            ("no routes usable at all: unavailable", st(0, None), None, Exhausted::Unavailable),
        ];
        for (name, st, soonest, want) in table {
            assert_eq!(when_exhausted(&st, soonest), want, "{name}");
        }
        let no_retry = LoopState::new(Limits {
            request_retry: 0,
            ..limits
        });
        assert_eq!(
            when_exhausted(&no_retry, Some(S(1))),
            Exhausted::AllCooling(S(1)),
            "request-retry 0 never waits"
        );
    }

    #[test]
    fn rounds_and_the_credential_limit() {
        let mut st = LoopState::new(Limits {
            request_retry: 1,
            max_retry_interval: 30,
            max_credentials: 2,
        });
        assert!(st.may_try_another());
        st.begin_route(true, true);
        st.replayed = true;
        assert!(st.may_try_another());
        st.begin_route(false, false);
        assert!(
            !st.replayed && !st.oauth && !st.cooling,
            "a new route starts clean"
        );
        assert!(!st.may_try_another(), "max-retry-credentials reached");
        st.begin_round();
        assert_eq!((st.waits, st.tried), (1, 0));
        assert!(st.may_try_another(), "a new round may try again");
        let unlimited = LoopState::new(Limits {
            max_credentials: 0,
            ..st.limits
        });
        assert!(
            LoopState {
                tried: 1000,
                ..unlimited
            }
            .may_try_another()
        );
    }
}
