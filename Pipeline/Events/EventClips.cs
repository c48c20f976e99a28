using Edge.Pipeline;
using Edge.Pipeline.Events;
using OpenCvSharp;

namespace Edge.Pipeline.Events;

/// <summary>
/// Short clips around events for one stream. A ring keeps the last <c>preRoll</c> frames at half size as JPEG (each
/// frame is scaled and encoded once, about 0.6 ms for vtest's 768 × 576, and an event's clip is those bytes put into
/// an AVI by <see cref="MjpegAviWriter"/>, with no encoding of its own); when an episode opens, a recorder writes the
/// ring and then every frame into a staging file (<c>clip-&lt;random&gt;.avi</c>) until the event has ended and <c>postRoll</c> more frames have passed;
/// only then is the file closed and renamed to the event's clip name, and the event handed back as finished. So a clip
/// under an event's name is always whole, and a staging file left by a killed process is an orphan that start-up
/// removes. An episode dropped before it became an event deletes its staging file. The length of a clip is bounded
/// by pre-roll + the longest event (<see cref="EventRules.MaxDurationMs"/>) + post-roll. Owns the open writers and a
/// scratch Mat; dispose to free them.
/// </summary>
public sealed class EventClips(string folder, int preRoll, int postRoll, double fps) : IDisposable
{
    /// <summary>Staging files of clips being recorded: never an event's file.</summary>
    public const string StagingPattern = "clip-*.avi";

    /// <summary>JPEG quality of clip frames.</summary>
    public const int JpegQuality = 85;

    private readonly Queue<byte[]> _ring = new();
    private readonly Mat _small = new();
    private readonly ImageEncodingParam _quality = new(ImwriteFlags.JpegQuality, JpegQuality);
    private readonly Dictionary<HysteresisDetector, Recorder> _recording = [];
    private readonly List<Recorder> _finishing = [];

    private sealed class Recorder(MjpegAviWriter writer, string path)
    {
        public MjpegAviWriter Writer { get; } = writer;

        public string Path { get; } = path;

        public int PostRollLeft { get; set; } = -1;

        /// <summary>The event the clip belongs to, once its episode became one.</summary>
        public DetectedEvent? Event { get; set; }
    }

    /// <summary>The clip file name of an event.</summary>
    public static string NameFor(DetectedEvent detected) => $"event-{detected.Id}.avi";

    /// <summary>
    /// Adds a frame: to the ring, to every clip being recorded, and starts a clip for a newly open episode. Returns the
    /// events whose clips this frame completed (their post-roll is over and the file has its final name).
    /// </summary>
    public IReadOnlyList<DetectedEvent> Add(FrameResult result, IEnumerable<HysteresisDetector> detectors)
    {
        if (result.Pixels is null)
        {
            return [];
        }
        var size = new Size(Math.Max(1, result.Pixels.Image.Width / 2), Math.Max(1, result.Pixels.Image.Height / 2));
        Cv2.Resize(result.Pixels.Image, _small, size, interpolation: InterpolationFlags.Area);
        Cv2.ImEncode(".jpg", _small, out var small, _quality);
        foreach (var detector in detectors)
        {
            if (detector.OpenPeakFrame is not null && !_recording.ContainsKey(detector))
            {
                var path = Path.Combine(folder, $"clip-{Guid.NewGuid():N}.avi");
                var writer = new MjpegAviWriter(path, size.Width, size.Height, fps > 0 ? fps : 10);
                var recorder = new Recorder(writer, path);
                foreach (var earlier in _ring)
                {
                    writer.Write(earlier);
                }
                _recording[detector] = recorder;
            }
        }
        foreach (var recorder in _recording.Values.Concat(_finishing))
        {
            recorder.Writer.Write(small);
        }
        List<DetectedEvent>? finished = null;
        foreach (var recorder in _finishing.ToList())
        {
            if (--recorder.PostRollLeft <= 0)
            {
                _finishing.Remove(recorder);
                (finished ??= []).Add(Complete(recorder));
            }
        }
        _ring.Enqueue(small);
        while (_ring.Count > preRoll)
        {
            _ring.Dequeue();
        }
        return finished ?? (IReadOnlyList<DetectedEvent>)[];
    }

    /// <summary>
    /// The detector's episode became <paramref name="detected"/>: its clip records the post-roll and is then handed
    /// back by <see cref="Add"/>. Returns the clip's file name, or null when no clip was being recorded (no pixels).
    /// With no post-roll the clip is complete at once and returned in <paramref name="completedNow"/>.
    /// </summary>
    public string? Finish(HysteresisDetector detector, DetectedEvent detected, out DetectedEvent? completedNow)
    {
        completedNow = null;
        if (!_recording.Remove(detector, out var recorder))
        {
            return null;
        }
        var name = NameFor(detected);
        recorder.Event = detected with { Clip = name };
        recorder.PostRollLeft = postRoll;
        if (postRoll == 0)
        {
            completedNow = Complete(recorder);
        }
        else
        {
            _finishing.Add(recorder);
        }
        return name;
    }

    /// <summary>An episode that closed without becoming an event: its clip is deleted.</summary>
    public void Drop(HysteresisDetector detector)
    {
        if (_recording.Remove(detector, out var recorder))
        {
            Close(recorder);
            File.Delete(recorder.Path);
        }
    }

    public bool IsRecording(HysteresisDetector detector) => _recording.ContainsKey(detector);

    /// <summary>Clips waiting for their post-roll.</summary>
    public int Finishing => _finishing.Count;

    /// <summary>
    /// The end of the stream: clips waiting for their post-roll are completed as they are (shorter post-roll) and their
    /// events returned; clips of episodes that never became events are deleted.
    /// </summary>
    public IReadOnlyList<DetectedEvent> CompleteAll()
    {
        var finished = _finishing.Select(Complete).ToList();
        _finishing.Clear();
        foreach (var detector in _recording.Keys.ToList())
        {
            Drop(detector);
        }
        return finished;
    }

    /// <summary>Closes the writer (the AVI's index is written) and gives the file the event's name.</summary>
    private DetectedEvent Complete(Recorder recorder)
    {
        Close(recorder);
        var detected = recorder.Event!;
        File.Move(recorder.Path, Path.Combine(folder, detected.Clip!), overwrite: true);
        return detected;
    }

    private static void Close(Recorder recorder) => recorder.Writer.Dispose();

    /// <summary>Closes every writer; staging files that were not completed are deleted.</summary>
    public void Dispose()
    {
        foreach (var recorder in _recording.Values.Concat(_finishing))
        {
            Close(recorder);
            File.Delete(recorder.Path);
        }
        _recording.Clear();
        _finishing.Clear();
        _ring.Clear();
        _small.Dispose();
    }
}
