//! From matches and a request's context to a decision: the pure core of the rights layer.

use earmark_index::{Match, TrackRecord};
use serde::{Deserialize, Serialize};

use crate::policy::{Action, Applicability, Policy};

/// The answer to "may this be shared?".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Share it.
    Allow,
    /// Do not share it.
    Block,
    /// A possible match: a person should look.
    Review,
}

impl Decision {
    /// The decision's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Block => "block",
            Decision::Review => "review",
        }
    }

    /// Higher is more restrictive: when several tracks play in one file, the most
    /// restrictive decision wins.
    fn severity(self) -> u8 {
        match self {
            Decision::Allow => 0,
            Decision::Review => 1,
            Decision::Block => 2,
        }
    }
}

/// Which rule decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Nothing matched at the review threshold: the catalog default.
    NoMatch,
    /// The best match is between the review and the match threshold.
    BelowMatchThreshold,
    /// The track's `allow` or `block` policy applied.
    Policy,
    /// The track's `monitor` policy applied: allowed and reported.
    Monitor,
    /// The track has no policy: the configured policy for such tracks.
    NoPolicy,
    /// The track's stored policy does not parse: a person should look.
    InvalidPolicy,
    /// The policy is limited to other territories: the catalog default.
    OutsideTerritory,
    /// The policy is limited to territories and the request named none: the catalog default.
    TerritoryUnknown,
    /// The policy's window has not started: the catalog default.
    NotYetValid,
    /// The policy's window has ended: the catalog default.
    Expired,
    /// Tracks of different rights holders match the same part of the content and
    /// their policies disagree: a person should look, since neither holder may
    /// overrule the other.
    HolderConflict,
}

/// The request's circumstances a policy may depend on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// ISO 3166-1 alpha-2 code where the file is shared, if known.
    pub territory: Option<String>,
    /// When the decision is made, unix seconds.
    pub at_unix_s: i64,
}

/// Thresholds and catalog defaults of [`decide`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RightsConfig {
    /// Least confidence of a match that is reviewed rather than ignored.
    pub review_confidence: f64,
    /// Least confidence of a match whose track's policy decides. The default, 0.5, is
    /// the matcher's calibrated reporting threshold.
    pub match_confidence: f64,
    /// The decision for content that matches nothing, or whose policy does not apply.
    pub default_decision: Decision,
    /// The action for matched tracks that have no policy.
    pub unset_policy: Action,
}

impl Default for RightsConfig {
    fn default() -> Self {
        Self {
            review_confidence: 0.35,
            match_confidence: 0.5,
            default_decision: Decision::Allow,
            unset_policy: Action::Monitor,
        }
    }
}

/// The matcher's `min_score` that reports matches down to `confidence`, given the
/// calibrated `min_score` at which confidence is 0.5 (confidence is
/// `1 - 2^(-score / min_score)`).
pub fn min_score_for(confidence: f64, calibrated_min_score: u32) -> u32 {
    let c = confidence.clamp(0.0, 0.999_999);
    let score = -(1.0 - c).log2() * f64::from(calibrated_min_score);
    (score.ceil() as u32).max(1)
}

/// A decision and why it was made.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionOutcome {
    /// The decision.
    pub decision: Decision,
    /// The rule that decided.
    pub rule: Rule,
    /// The track that decided; `None` when nothing matched.
    pub track: Option<TrackRecord>,
    /// The track's rights holder.
    pub rights_holder: Option<String>,
    /// The track's policy as parsed, when it has a valid one.
    pub policy: Option<Policy>,
    /// The deciding match's confidence.
    pub confidence: Option<f64>,
}

/// Decides from `matches` (any order) in `context`.
///
/// Matches at or above [`RightsConfig::match_confidence`] are each judged by their
/// track's policy and the most restrictive result wins (a medley with one blocked track
/// is blocked), ties going to the more confident match, then to the track ingested
/// first. Two such matches of different rights holders over the same part of the
/// content whose judgements differ are both judged [`Rule::HolderConflict`] (review):
/// one holder's track never overrules another's. Failing those, a match at or above
/// [`RightsConfig::review_confidence`] asks for review. Otherwise the catalog default
/// applies with no match.
pub fn decide(matches: &[Match], context: &Context, config: &RightsConfig) -> DecisionOutcome {
    let confident: Vec<&Match> = matches
        .iter()
        .filter(|m| m.confidence >= config.match_confidence)
        .collect();
    let mut judged: Vec<DecisionOutcome> = confident
        .iter()
        .map(|m| judge(m, context, config))
        .collect();
    let conflicting: Vec<bool> = (0..confident.len())
        .map(|i| {
            (0..confident.len()).any(|j| {
                confident[i].track.meta.rights_holder != confident[j].track.meta.rights_holder
                    && judged[i].decision != judged[j].decision
                    && same_content(confident[i], confident[j])
            })
        })
        .collect();
    for ((outcome, m), conflict) in judged.iter_mut().zip(&confident).zip(conflicting) {
        if conflict {
            *outcome = self::outcome(
                m,
                Decision::Review,
                Rule::HolderConflict,
                outcome.policy.clone(),
            );
        }
    }
    let best = judged.into_iter().enumerate().max_by(|(i, a), (j, b)| {
        let idx = |o: &DecisionOutcome| o.track.as_ref().map_or(u32::MAX, |t| t.idx);
        a.decision
            .severity()
            .cmp(&b.decision.severity())
            .then(
                a.confidence
                    .unwrap_or(0.0)
                    .total_cmp(&b.confidence.unwrap_or(0.0)),
            )
            // The first ingested wins a tie (it was there before the other), then
            // the first listed.
            .then(idx(b).cmp(&idx(a)))
            .then(j.cmp(i))
    });
    if let Some((_, best)) = best {
        return best;
    }
    let review = matches
        .iter()
        .filter(|m| m.confidence >= config.review_confidence)
        .max_by(|a, b| a.confidence.total_cmp(&b.confidence));
    match review {
        Some(m) => {
            let policy = m
                .track
                .meta
                .policy
                .as_deref()
                .and_then(|p| Policy::parse(p).ok());
            outcome(m, Decision::Review, Rule::BelowMatchThreshold, policy)
        }
        None => DecisionOutcome {
            decision: config.default_decision,
            rule: Rule::NoMatch,
            track: None,
            rights_holder: None,
            policy: None,
            confidence: None,
        },
    }
}

/// Whether two matches cover the same part of the content: their spans in the query
/// overlap by at least half of the shorter one.
fn same_content(a: &Match, b: &Match) -> bool {
    let start = a.query_offset_s.max(b.query_offset_s);
    let end =
        (a.query_offset_s + a.matched_duration_s).min(b.query_offset_s + b.matched_duration_s);
    let shorter = a.matched_duration_s.min(b.matched_duration_s);
    end - start >= 0.5 * shorter
}

/// One confident match judged by its track's policy.
fn judge(m: &Match, context: &Context, config: &RightsConfig) -> DecisionOutcome {
    let policy = match m.track.meta.policy.as_deref() {
        None => {
            let policy = Policy::new(config.unset_policy);
            return outcome(
                m,
                action_decision(policy.action),
                Rule::NoPolicy,
                Some(policy),
            );
        }
        Some(text) => match Policy::parse(text) {
            Ok(p) => p,
            Err(_) => return outcome(m, Decision::Review, Rule::InvalidPolicy, None),
        },
    };
    let not_applying = match policy.applies(context.territory.as_deref(), context.at_unix_s) {
        Applicability::Applies => {
            let rule = if policy.action == Action::Monitor {
                Rule::Monitor
            } else {
                Rule::Policy
            };
            return outcome(m, action_decision(policy.action), rule, Some(policy));
        }
        Applicability::OutsideTerritory => Rule::OutsideTerritory,
        Applicability::TerritoryUnknown => Rule::TerritoryUnknown,
        Applicability::NotYetValid => Rule::NotYetValid,
        Applicability::Expired => Rule::Expired,
    };
    outcome(m, config.default_decision, not_applying, Some(policy))
}

fn action_decision(action: Action) -> Decision {
    match action {
        Action::Allow | Action::Monitor => Decision::Allow,
        Action::Block => Decision::Block,
    }
}

fn outcome(m: &Match, decision: Decision, rule: Rule, policy: Option<Policy>) -> DecisionOutcome {
    DecisionOutcome {
        decision,
        rule,
        rights_holder: m.track.meta.rights_holder.clone(),
        track: Some(m.track.clone()),
        policy,
        confidence: Some(m.confidence),
    }
}

#[cfg(test)]
mod tests {
    use earmark_index::{TrackId, TrackMeta};

    use super::*;

    fn track(id: &str, policy: Option<&str>) -> TrackRecord {
        TrackRecord {
            id: TrackId::new(id).expect("id"),
            idx: 0,
            meta: TrackMeta {
                rights_holder: Some(format!("holder-of-{id}")),
                policy: policy.map(str::to_owned),
                ..TrackMeta::default()
            },
            duration_s: 60.0,
            hash_config_id: 1,
            landmarks: 100,
            content_hash: None,
        }
    }

    fn hit(id: &str, policy: Option<&str>, confidence: f64) -> Match {
        Match {
            confidence,
            ..Match::exact(track(id, policy))
        }
    }

    fn ctx(territory: Option<&str>, at: i64) -> Context {
        Context {
            territory: territory.map(str::to_owned),
            at_unix_s: at,
        }
    }

    fn run(matches: &[Match], c: &Context) -> (Decision, Rule, Option<String>) {
        let o = decide(matches, c, &RightsConfig::default());
        (o.decision, o.rule, o.track.map(|t| t.id.to_string()))
    }

    #[test]
    fn no_match_is_the_catalog_default() {
        assert_eq!(
            run(&[], &ctx(None, 0)),
            (Decision::Allow, Rule::NoMatch, None)
        );
        let weak = hit("a", Some("block"), 0.2);
        let o = decide(&[weak], &ctx(None, 0), &RightsConfig::default());
        assert_eq!((o.decision, o.rule), (Decision::Allow, Rule::NoMatch));
        assert!(o.track.is_none() && o.rights_holder.is_none() && o.confidence.is_none());
        let strict = RightsConfig {
            default_decision: Decision::Review,
            ..RightsConfig::default()
        };
        assert_eq!(
            decide(&[], &ctx(None, 0), &strict).decision,
            Decision::Review
        );
    }

    #[test]
    fn between_thresholds_is_review() {
        let m = hit("a", Some("allow"), 0.4);
        let o = decide(&[m], &ctx(None, 0), &RightsConfig::default());
        assert_eq!(
            (o.decision, o.rule),
            (Decision::Review, Rule::BelowMatchThreshold)
        );
        assert_eq!(o.rights_holder.as_deref(), Some("holder-of-a"));
        assert_eq!(o.confidence, Some(0.4));
        // Exactly at the review threshold reviews; exactly at the match threshold decides.
        assert_eq!(
            run(&[hit("a", Some("allow"), 0.35)], &ctx(None, 0)).0,
            Decision::Review
        );
        assert_eq!(
            run(&[hit("a", Some("block"), 0.5)], &ctx(None, 0)),
            (Decision::Block, Rule::Policy, Some("a".into()))
        );
    }

    #[test]
    fn each_action() {
        let c = ctx(None, 0);
        assert_eq!(run(&[hit("a", Some("allow"), 0.9)], &c).0, Decision::Allow);
        assert_eq!(run(&[hit("a", Some("allow"), 0.9)], &c).1, Rule::Policy);
        assert_eq!(run(&[hit("a", Some("block"), 0.9)], &c).0, Decision::Block);
        assert_eq!(
            run(&[hit("a", Some("monitor"), 0.9)], &c),
            (Decision::Allow, Rule::Monitor, Some("a".into()))
        );
        let o = decide(&[hit("a", None, 0.9)], &c, &RightsConfig::default());
        assert_eq!((o.decision, o.rule), (Decision::Allow, Rule::NoPolicy));
        assert_eq!(o.policy, Some(Policy::new(Action::Monitor)));
        let blocking = RightsConfig {
            unset_policy: Action::Block,
            ..RightsConfig::default()
        };
        assert_eq!(
            decide(&[hit("a", None, 0.9)], &c, &blocking).decision,
            Decision::Block
        );
        assert_eq!(
            run(&[hit("a", Some("garbage"), 0.9)], &c).1,
            Rule::InvalidPolicy
        );
        assert_eq!(
            run(&[hit("a", Some("garbage"), 0.9)], &c).0,
            Decision::Review
        );
    }

    #[test]
    fn territories() {
        let p = Some(r#"{"action":"block","territories":["DE","AT"]}"#);
        let m = [hit("a", p, 0.9)];
        assert_eq!(run(&m, &ctx(Some("DE"), 0)).0, Decision::Block);
        assert_eq!(run(&m, &ctx(Some("at"), 0)).0, Decision::Block);
        assert_eq!(
            run(&m, &ctx(Some("FR"), 0)),
            (Decision::Allow, Rule::OutsideTerritory, Some("a".into()))
        );
        assert_eq!(run(&m, &ctx(None, 0)).1, Rule::TerritoryUnknown);
    }

    #[test]
    fn validity_window() {
        let p = Some(r#"{"action":"block","from":1000,"until":2000}"#);
        let m = [hit("a", p, 0.9)];
        assert_eq!(run(&m, &ctx(None, 999)).1, Rule::NotYetValid);
        assert_eq!(run(&m, &ctx(None, 999)).0, Decision::Allow);
        assert_eq!(run(&m, &ctx(None, 1000)).0, Decision::Block);
        assert_eq!(run(&m, &ctx(None, 1999)).0, Decision::Block);
        assert_eq!(run(&m, &ctx(None, 2000)).1, Rule::Expired);
        let o = decide(&m, &ctx(None, 2000), &RightsConfig::default());
        assert_eq!(o.policy.and_then(|p| p.until_unix_s), Some(2000));
    }

    #[test]
    fn holders_disagreeing_over_the_same_content_ask_for_review() {
        // Another holder's copy of a blocked file, uploaded as allowed: neither wins.
        let mut original = hit("original", Some("block"), 1.0);
        original.track.idx = 1;
        let mut copy = hit("copy", Some("allow"), 1.0);
        copy.track.idx = 2;
        let o = decide(
            &[copy.clone(), original.clone()],
            &ctx(None, 0),
            &RightsConfig::default(),
        );
        assert_eq!(
            (o.decision, o.rule),
            (Decision::Review, Rule::HolderConflict)
        );
        assert_eq!(
            o.track.map(|t| t.id.to_string()).as_deref(),
            Some("original")
        );
        // Holders that agree decide as one.
        let mut agreeing = copy.clone();
        agreeing.track.meta.policy = Some("block".into());
        assert_eq!(
            run(&[agreeing, original.clone()], &ctx(None, 0)).0,
            Decision::Block
        );
        // The same holder's two tracks are no conflict: the stricter wins.
        let mut own = copy.clone();
        own.track.meta.rights_holder = original.track.meta.rights_holder.clone();
        assert_eq!(run(&[own, original.clone()], &ctx(None, 0)).1, Rule::Policy);
        // Different parts of a file (a medley) are no conflict either.
        let mut later = copy;
        later.query_offset_s = 100.0;
        later.matched_duration_s = 30.0;
        original.matched_duration_s = 30.0;
        assert_eq!(
            run(&[later, original], &ctx(None, 0)),
            (Decision::Block, Rule::Policy, Some("original".into()))
        );
    }

    #[test]
    fn most_restrictive_match_wins() {
        let c = ctx(None, 0);
        // Tracks one after another in the file, as in a medley.
        let at = |mut m: Match, offset_s: f64| {
            m.query_offset_s = offset_s;
            m
        };
        let matches = [
            hit("loud", Some("allow"), 0.99),
            at(hit("quiet", Some("block"), 0.6), 60.0),
            at(hit("weak", Some("block"), 0.4), 120.0),
        ];
        assert_eq!(
            run(&matches, &c),
            (Decision::Block, Rule::Policy, Some("quiet".into()))
        );
        // Among equal decisions, the more confident match is reported.
        let matches = [
            hit("b", Some("allow"), 0.7),
            at(hit("a", Some("monitor"), 0.9), 60.0),
        ];
        assert_eq!(run(&matches, &c).2.as_deref(), Some("a"));
        // A confident allow beats a weak match that would only ask for review.
        let matches = [
            hit("weak", Some("block"), 0.4),
            hit("ok", Some("allow"), 0.8),
        ];
        assert_eq!(
            run(&matches, &c),
            (Decision::Allow, Rule::Policy, Some("ok".into()))
        );
    }

    #[test]
    fn min_score_matches_confidence() {
        assert_eq!(min_score_for(0.5, 10), 10);
        assert_eq!(min_score_for(0.75, 10), 20);
        assert_eq!(min_score_for(0.35, 10), 7);
        assert_eq!(min_score_for(0.0, 10), 1);
        let cfg = earmark_index::MatchConfig::default();
        let s = min_score_for(0.35, cfg.min_score);
        assert!(earmark_index::matcher::confidence(s, &cfg) >= 0.35);
        assert!(earmark_index::matcher::confidence(s - 1, &cfg) < 0.35);
    }
}
