namespace Edge.Host.Service;

/// <summary>
/// What <c>/healthz</c> answers, from the streams' states: healthy (200) only while at least one stream runs and none
/// is faulted; otherwise 503 with the reasons, so a probe or a supervisor sees a stream that keeps failing even while
/// the others run.
/// </summary>
public static class StreamHealth
{
    public sealed record Verdict(bool Healthy, string Text);

    public static Verdict Of(IReadOnlyList<StreamStatus> streams)
    {
        if (streams.Count == 0)
        {
            return new Verdict(false, "no streams configured");
        }
        var faulted = streams.Where(s => s.State == StreamState.Faulted).ToList();
        if (faulted.Count > 0)
        {
            return new Verdict(false, $"degraded: {faulted.Count} of {streams.Count} stream(s) faulted ("
                + string.Join("; ", faulted.Select(s => $"{s.Id}: {s.LastError ?? "unknown error"}")) + ")");
        }
        if (streams.Any(s => s.State == StreamState.Running))
        {
            return new Verdict(true, "ok");
        }
        var states = string.Join(", ", streams.GroupBy(s => s.State).Select(g => $"{g.Count()} {g.Key.ToString().ToLowerInvariant()}"));
        return new Verdict(false, $"no stream is running ({states})");
    }
}
