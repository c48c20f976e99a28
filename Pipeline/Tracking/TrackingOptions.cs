using System.ComponentModel.DataAnnotations;

namespace Edge.Pipeline.Tracking;

/// <summary>
/// The multi-object tracker (<see cref="MultiObjectTracker"/>): ByteTrack's two score bands, IoU and appearance
/// association, track life times and bounds. Config section "Tracking". Defaults were chosen on the training split of
/// the generated multi-person scenes (see the README's tracking section).
/// </summary>
public sealed class TrackingOptions
{
    public const string Section = "Tracking";

    public bool Enabled { get; set; } = true;

    /// <summary>Detections at or above this score take part in the first association and may start tracks.</summary>
    [Range(0.0, 1.0)]
    public double HighScore { get; set; } = 0.5;

    /// <summary>
    /// Detections from this score up to <see cref="HighScore"/> only extend tracks that already exist (ByteTrack's
    /// second pass: a person half hidden is detected weakly); below it they are ignored.
    /// </summary>
    [Range(0.0, 1.0)]
    public double LowScore { get; set; } = 0.1;

    /// <summary>A high-score detection that no track takes starts a new track when its score reaches this.</summary>
    [Range(0.0, 1.0)]
    public double NewTrackScore { get; set; } = 0.6;

    /// <summary>First pass: a detection may continue a track when its box overlaps the track's prediction at least this much.</summary>
    [Range(0.0, 1.0)]
    public double MinIou { get; set; } = 0.2;

    /// <summary>Second pass (low-score detections) and new tracks' confirmation: the overlap a match needs.</summary>
    [Range(0.0, 1.0)]
    public double LowScoreMinIou { get; set; } = 0.4;

    /// <summary>
    /// Weight of appearance against overlap in the first pass, when both the track and the detection carry an
    /// embedding: cost = (1 − w)·(1 − IoU) + w·cosine distance. 0 turns appearance off. The default is a tie-breaker:
    /// the frame model's ImageNet embeddings of person crops tell people apart poorly (on the training scenes, the
    /// same person 10 frames later is at median cosine distance 0.15, a different person nearby at 0.18), and a
    /// larger weight cost identity there; a re-identification embedding deserves about 0.5.
    /// </summary>
    [Range(0.0, 1.0)]
    public double AppearanceWeight { get; set; } = 0.2;

    /// <summary>
    /// Cosine distance (1 − cosine similarity) within which appearance alone may re-find a lost track whose predicted
    /// box no longer overlaps (inside the filter's gate, or within reach of where it was last seen). Strict by
    /// default for the same reason as <see cref="AppearanceWeight"/>.
    /// </summary>
    [Range(0.0, 2.0)]
    public double MaxAppearanceDistance { get; set; } = 0.05;

    /// <summary>Share of the old embedding kept when a new one arrives (exponential moving average).</summary>
    [Range(0.0, 1.0)]
    public double EmbeddingMomentum { get; set; } = 0.9;

    /// <summary>Matched updates in a row that make a tentative track confirmed (and give it its id).</summary>
    [Range(1, 100)]
    public int ConfirmHits { get; set; } = 2;

    /// <summary>A confirmed track that no detection matches for this long ends.</summary>
    [Range(0, 3_600_000)]
    public double MaxLostMs { get; set; } = 2_000;

    /// <summary>
    /// A lost track is still reported as present (<see cref="TrackingUpdate.Present"/>, on its prediction) while unseen
    /// for at most this long: a detector misses a frame now and then.
    /// </summary>
    [Range(0, 3_600_000)]
    public double CoastMs { get; set; } = 150;

    /// <summary>Most tracks kept at once (tentative, confirmed and lost); beyond it the longest-unseen is dropped and counted.</summary>
    [Range(1, 10_000)]
    public int MaxTracks { get; set; } = 64;

    /// <summary>
    /// Per-track activity model (<c>edge train sequence --input track</c>), resolved against Models:Directory; empty:
    /// none. Each confirmed track is labelled from its own steps (walk, run, fall, …); episodes of labels not in
    /// Events:IdleActivities are events naming the track.
    /// </summary>
    public string ActivityModel { get; set; } = "";

    /// <summary>Recent centres each track keeps (a ring), for drawing trails.</summary>
    [Range(1, 1_000)]
    public int TrailLength { get; set; } = 32;

    /// <summary>The rule between fields that attributes cannot state; null when the options are consistent.</summary>
    public string? CrossFieldError() =>
        LowScore > HighScore ? $"Tracking:LowScore ({LowScore}) must not be above Tracking:HighScore ({HighScore})"
        : NewTrackScore < HighScore ? $"Tracking:NewTrackScore ({NewTrackScore}) must not be below Tracking:HighScore ({HighScore}): only high-score detections start tracks"
        : CoastMs > MaxLostMs ? $"Tracking:CoastMs ({CoastMs}) must not be above Tracking:MaxLostMs ({MaxLostMs}): a track cannot be shown after it ended"
        : null;

    /// <summary>Every problem with the options: out-of-range fields, then the cross-field rule. Empty when valid.</summary>
    public IReadOnlyList<string> Errors()
    {
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(this, new ValidationContext(this), results, validateAllProperties: true);
        var errors = results.Select(r => $"{Section}:{string.Join(",", r.MemberNames)}: {r.ErrorMessage}").ToList();
        if (CrossFieldError() is { } error)
        {
            errors.Add(error);
        }
        return errors;
    }

    /// <summary>Throws <see cref="ValidationException"/> naming every problem; the tracker calls it before it starts.</summary>
    public void Validate()
    {
        var errors = Errors();
        if (errors.Count > 0)
        {
            throw new ValidationException(string.Join("; ", errors));
        }
    }
}
