// Package analysis holds the statistics a rollout decides on: comparisons
// of a candidate with its baseline that may be repeated on growing data as
// often as the caller likes, and the pre-deployment gate metrics.
//
// # Why anytime-valid
//
// A rollout looks at live numbers every few seconds. A fixed-sample test
// (a z-test, a t-test, Mann-Whitney) re-run at every look raises false
// alarms far above its nominal rate: in this package's simulation, a 5%
// one-sided two-proportion z-test looked at 100 times says "regression" in
// 31% of rollouts where nothing changed
// (TestNaiveRepeatedZTestExceedsAlpha). Every test here is instead
// anytime-valid: the chance that ANY look ever reports a false Fail is at
// most Alpha, whenever the caller looks and whenever it stops; the same
// holds for a false Pass. The functions are stateless (they take cumulative
// counts), so the controller may call them at any cadence and should act on
// the first Pass or Fail.
//
// # Verdicts
//
// Each comparison measures how much worse the candidate is than the
// baseline, in the direction given by Criterion.Direction, and builds a
// confidence sequence for it: intervals that contain the true value at
// every look simultaneously with probability 1−Alpha. Fail when the
// interval lies entirely beyond the tolerance; Pass when it lies entirely
// within it; Inconclusive otherwise, and always before MinSamples on each
// side. With Tolerance 0 an equal candidate stays Inconclusive for ever
// (only a clearly better one passes): give a tolerance, or let the rollout
// treat "no Fail by the end of the window" as success.
//
// # The tests
//
// CompareProportions (error rate, accuracy from labels), CompareMeans
// (squared error, custom KPI rewards), CheckMeanPaired (per-request
// differences of two versions scoring the same request) and CheckProportion
// (one rate against a threshold, e.g. shadow agreement >= 0.95) use the
// normal-mixture martingale of the mSPRT (Johari, Pekelis and Walsh,
// "Always Valid Inference", arXiv 1512.04922): the Gaussian likelihood
// ratio of the estimate, mixed over a N(0, ρ²) prior on the effect, is a
// nonnegative martingale in information time, so by Ville's inequality it
// exceeds 1/α with probability at most α. Inverting it gives the always-
// valid p-value and the confidence sequence, which is the asymptotic
// confidence sequence of Waudby-Smith, Arbour, Sinha, Kennedy and Ramdas
// ("Time-uniform central limit theory and asymptotic confidence sequences",
// arXiv 2103.06476) with ρ tuned to be tightest at Criterion.Horizon.
// Assumptions: independent observations within each side with a finite
// variance, estimated from the data (Bernoulli variances with one pseudo
// event and one pseudo non-event, so zero-event streams are not taken as
// certain). The guarantee is asymptotic: it holds as the sample sizes
// grow, and MinSamples keeps the earliest, least Gaussian looks from
// deciding. Simulation checks it (sim_test.go: 2,000 rollouts × 100 looks
// every 50 samples up to 5,000, for 1% error rates, 10% canary splits,
// skewed χ² squared errors, Laplace paired differences, and truths exactly
// at the tolerance): the observed false-verdict rates are 0%–3.9%, under
// the 5% level. A relative tolerance is tested as the linear contrast
// candidate − (1+tol)·baseline, so the noise of the baseline's own
// estimate is counted.
//
// CompareDistributions (latency histograms) combines two tests. Equality
// in distribution is tested exactly, after Lindon and Malek ("Anytime-Valid
// Inference for Multinomial Count Data", arXiv 2011.03567): each side's
// bucket counts are scored by a Dirichlet-multinomial mixture and divided
// by the best common multinomial fitted to both sides (universal inference,
// which bounds the ratio by a test martingale without asymptotics, for any
// traffic split and any change of it). Direction comes from a rank test,
// as in Lindon, Sanden and Shirikian's canary analysis (KDD 2022, arXiv
// 2205.14762), which tests stochastic order: the dominance
// d = P(candidate worse) − P(candidate better) of a random pair of
// observations (ties in a bucket count as neither), the Mann-Whitney
// statistic rescaled, with an asymptotic confidence sequence as above.
// Fail needs equality rejected, d's interval above 0 and the candidate's
// quantile (Criterion.Quantile, p99 by default) beyond tolerance; so a
// faster candidate cannot fail. Pass needs d's interval below
// Criterion.Margin and the quantile within tolerance.
//
// # Planning
//
// power.go answers, before a rollout, how many samples a comparison needs
// to reach its verdict with a given power (ProportionSampleSize,
// MeanSampleSize, PairedSampleSize), from the same confidence sequences
// the tests decide on; simulation checks the figures (plan_test.go).
//
// # Gate metrics
//
// metrics.go computes the scores a candidate must reach on a holdout file
// before it gets traffic: Accuracy, ROCAUC (ties counted one half), RMSE,
// LogLoss, and the fairness metrics DemographicParityDifference,
// EqualOpportunityDifference (fairlearn's definitions, max − min across
// groups) and DisparateImpactRatio (min/max selection rate), with each
// group's rate and size. They match scikit-learn on testdata/metrics.json.
//
// The package is pure: no I/O, no clocks, standard library only.
package analysis
