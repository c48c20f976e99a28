using Edge.Pipeline;
using Edge.Pipeline.Events;
using OpenCvSharp;

namespace Edge.Pipeline.Events;

/// <summary>
/// Short clips around events for one stream. A ring keeps the last <c>preRoll</c> frames at half size (Mats owned by
/// the ring, freed as they fall out); when an episode opens, a recorder writes the ring and then every frame until
/// the event has ended and <c>postRoll</c> more frames have passed. An episode dropped before it became an event
/// deletes its clip. Owns the ring's Mats and the open writers; dispose to free them.
/// </summary>
public sealed class EventClips(string folder, int preRoll, int postRoll, double fps) : IDisposable
{
    private readonly Queue<Mat> _ring = new();
    private readonly Dictionary<HysteresisDetector, Recorder> _recording = [];
    private readonly List<Recorder> _finishing = [];

    private sealed class Recorder(VideoWriter writer, string path)
    {
        public VideoWriter Writer { get; } = writer;

        public string Path { get; } = path;

        public int PostRollLeft { get; set; } = -1;
    }

    /// <summary>Adds a frame: to the ring, to every clip being recorded, and starts a clip for a newly open episode.</summary>
    public void Add(FrameResult result, IEnumerable<HysteresisDetector> detectors)
    {
        if (result.Pixels is null)
        {
            return;
        }
        var small = new Mat();
        Cv2.Resize(result.Pixels.Image, small, new Size(result.Pixels.Image.Width / 2, result.Pixels.Image.Height / 2), interpolation: InterpolationFlags.Area);
        foreach (var detector in detectors)
        {
            if (detector.OpenPeakFrame is not null && !_recording.ContainsKey(detector))
            {
                var path = Path.Combine(folder, $"clip-{Guid.NewGuid():N}.avi");
                var writer = new VideoWriter(path, FourCC.MJPG, fps > 0 ? fps : 10, small.Size());
                foreach (var earlier in _ring)
                {
                    writer.Write(earlier);
                }
                _recording[detector] = new Recorder(writer, path);
            }
        }
        foreach (var recorder in _recording.Values.Concat(_finishing))
        {
            recorder.Writer.Write(small);
        }
        foreach (var recorder in _finishing.ToList())
        {
            if (--recorder.PostRollLeft <= 0)
            {
                Close(recorder);
                _finishing.Remove(recorder);
            }
        }
        _ring.Enqueue(small);
        while (_ring.Count > preRoll)
        {
            _ring.Dequeue().Dispose();
        }
    }

    /// <summary>The detector's episode became <paramref name="detected"/>: its clip gets the event's name and its post-roll.</summary>
    public string? Finish(HysteresisDetector detector, DetectedEvent detected)
    {
        if (!_recording.Remove(detector, out var recorder))
        {
            return null;
        }
        var name = $"event-{detected.Id}.avi";
        var target = Path.Combine(folder, name);
        // The writer keeps its file open; renaming keeps the same file, so recording goes on under the event's name.
        File.Move(recorder.Path, target);
        var renamed = new Recorder(recorder.Writer, target) { PostRollLeft = postRoll };
        if (postRoll == 0)
        {
            Close(renamed);
        }
        else
        {
            _finishing.Add(renamed);
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

    private static void Close(Recorder recorder)
    {
        recorder.Writer.Release();
        recorder.Writer.Dispose();
    }

    public void Dispose()
    {
        foreach (var recorder in _recording.Values.Concat(_finishing))
        {
            Close(recorder);
        }
        _recording.Clear();
        _finishing.Clear();
        while (_ring.TryDequeue(out var mat))
        {
            mat.Dispose();
        }
    }
}
