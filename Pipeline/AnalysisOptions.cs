namespace Edge.Pipeline;

/// <summary>The temporal stage's models. Config section "Analysis". Paths are relative to Models:Directory.</summary>
public sealed class AnalysisOptions
{
    public const string Section = "Analysis";

    /// <summary>Sequence model scoring anomalies (kind sequence-anomaly); empty turns it off.</summary>
    public string AnomalyModel { get; set; } = "";

    /// <summary>Sequence model recognising activity (kind sequence-activity); empty turns it off.</summary>
    public string ActivityModel { get; set; } = "";

    /// <summary>A configured model that is missing is an error when true, else the stage runs without it and says so once.</summary>
    public bool Required { get; set; }
}
