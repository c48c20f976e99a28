using System.Diagnostics;
using System.Globalization;
using Edge.Models;
using Edge.Models.GridAnomaly;
using Edge.Pipeline;
using Edge.Pipeline.Outputs;
using Microsoft.Extensions.Logging;

namespace Edge.Host.Service;

/// <summary>
/// Learning at the site for one stream of <c>edge run</c>: a sink that records the stream's features (embedding and
/// grid per frame, as the pipeline computes them) into <c>DATA/learning/&lt;id&gt;/</c> for a set number of minutes
/// of footage or until its disk budget is used, then runs <c>edge learn</c> on the recording in a child process at low
/// priority (a crash or an out-of-memory there cannot take the service down) and reports the model it wrote to
/// <c>DATA/models/&lt;id&gt;/anomaly-&lt;UTC time&gt;.onnx</c> (<see cref="Learned"/>), which the stream then puts in
/// without stopping. Models are kept per stream, the newest three (<see cref="KeptModels"/>), newest in use (a newest
/// one that cannot be opened, damaged on disk, is passed over for the one before it, with a warning); a recording is deleted once learned from, and when learning
/// fails or stops before it ends (it is never resumed). What fails (footage too short or too uniform, a disk budget
/// too small, the child's crash) is a status and a log line, and the stream keeps its previous model, or none. Owns
/// its recorder and the child process.
/// </summary>
public sealed class SiteLearning : IResultSink, IAsyncDisposable
{
    private const string ModelPrefix = "anomaly-";

    /// <summary>Learned models a stream keeps: the one in use and the two before it; older ones are removed after each learning.</summary>
    public const int KeptModels = 3;

    private readonly string _streamId;
    private readonly string _recordingFolder;
    private readonly string _modelsFolder;
    private readonly double _minutes;
    private readonly long _maxBytes;
    private readonly int _embeddingSize;
    private readonly GridDescription _grid;
    private readonly string _frameModelPath;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _stop = new();
    private FeatureRecorder? _recorder;
    private FeatureRecordingSink? _sink;
    private long _recordingStarted;
    private double? _firstFrameMs;
    private double _recordedMs;
    private string _status;
    private Task _fitting = Task.CompletedTask;
    private long? _budgetFrames;

    /// <param name="dataDirectory">The service's data folder (<see cref="ServiceOptions.DataDirectory"/>).</param>
    public SiteLearning(string streamId, string dataDirectory, double minutes, long maxBytes, int embeddingSize, GridDescription grid,
        string frameModelPath, ILogger logger)
    {
        _streamId = streamId;
        _recordingFolder = Path.GetFullPath(Path.Combine(dataDirectory, "learning", streamId));
        _modelsFolder = Path.GetFullPath(Path.Combine(dataDirectory, "models", streamId));
        _minutes = minutes;
        _maxBytes = maxBytes;
        _embeddingSize = embeddingSize;
        _grid = grid;
        _frameModelPath = frameModelPath;
        _logger = logger;
        Current = NewestUsableModel(dataDirectory, streamId, embeddingSize, grid, logger);
        if (Current is null)
        {
            _status = "";
            StartRecording();
        }
        else
        {
            _status = $"learned {Path.GetFileName(Current)}";
        }
    }

    /// <summary>The stream's newest learned model, which it uses; null before the first.</summary>
    public string? Current { get; private set; }

    /// <summary>Raised (off the pipeline's threads) with the path of a model just learned and checked.</summary>
    public event Action<string>? Learned;

    public bool NeedsPixels => false;

    public bool NeedsGrid => true;

    public bool NeedsFlow => true;

    /// <summary>What learning is doing, for the status line, the API and the dashboard.</summary>
    public string Status
    {
        get
        {
            lock (_lock)
            {
                return _recorder is null ? _status : string.Create(CultureInfo.InvariantCulture,
                    $"learning ({_recordedMs / 60_000:0.#} of {_minutes:0.#} min)");
            }
        }
    }

    /// <summary>
    /// The newest <c>anomaly-*.onnx</c> with its manifest in the stream's models folder that opens as an anomaly model
    /// for this frame model, or null. One that does not (damaged on disk, or learned on another frame model) is passed
    /// over with a warning and left where it is.
    /// </summary>
    public static string? NewestUsableModel(string dataDirectory, string streamId, int embeddingSize, GridDescription grid, ILogger logger)
    {
        var folder = Path.Combine(dataDirectory, "models", streamId);
        if (!Directory.Exists(folder))
        {
            return null;
        }
        var options = new ModelOptions { Provider = ExecutionProvider.Cpu, IntraOpThreads = 1 };
        foreach (var path in Directory.GetFiles(folder, ModelPrefix + "*.onnx").Where(f => File.Exists(ModelManifest.PathFor(f))).OrderDescending(StringComparer.Ordinal))
        {
            try
            {
                using var model = GridAnomalyModel.Open(path, embeddingSize, grid, options, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
                return path;
            }
            catch (Exception ex) when (ex is ModelException or IOException or InvalidDataException or System.Text.Json.JsonException)
            {
                logger.LogWarning("{Stream}: the learned model {Model} cannot be used, passed over for the one before it: {Error}",
                    streamId, Path.GetFileName(path), ex.Message);
            }
        }
        return null;
    }

    /// <summary>
    /// Deletes all but the newest <paramref name="keep"/> <c>anomaly-*.onnx</c> of a stream's models folder, each with
    /// its manifest, so that relearning over months does not fill the disk; one log line says what went.
    /// </summary>
    public static void RemoveOlderModels(string folder, int keep, string streamId, ILogger logger)
    {
        var older = Directory.GetFiles(folder, ModelPrefix + "*.onnx").OrderDescending(StringComparer.Ordinal).Skip(keep).ToList();
        var removed = new List<string>();
        foreach (var path in older)
        {
            try
            {
                File.Delete(ModelManifest.PathFor(path));
                File.Delete(path);
                removed.Add(Path.GetFileName(path));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                logger.LogWarning("{Stream}: the older learned model {Model} could not be removed: {Error}", streamId, Path.GetFileName(path), ex.Message);
            }
        }
        if (removed.Count > 0)
        {
            logger.LogInformation("{Stream}: removed {Count} older learned model(s), keeping the newest {Keep}: {Models}", streamId, removed.Count, keep,
                string.Join(", ", removed));
        }
    }

    /// <summary>Starts a new recording (the API's relearn). False while a model is being fitted.</summary>
    public bool Relearn()
    {
        lock (_lock)
        {
            if (!_fitting.IsCompleted)
            {
                return false;
            }
            if (_recorder is null)
            {
                StartRecording();
            }
            return true;
        }
    }

    private void StartRecording()
    {
        if (Directory.Exists(_recordingFolder))
        {
            Directory.Delete(_recordingFolder, recursive: true);
        }
        _recorder = new FeatureRecorder(_recordingFolder, _embeddingSize, _grid, flow: true);
        _sink = new FeatureRecordingSink(_recorder, _maxBytes);
        _recordingStarted = Stopwatch.GetTimestamp();
        _firstFrameMs = null;
        _recordedMs = 0;
        _logger.LogInformation("{Stream}: learning its anomaly model: recording {Minutes} min of features into {Folder}", _streamId, _minutes, _recordingFolder);
    }

    public async ValueTask WriteAsync(FrameResult result, CancellationToken ct)
    {
        FeatureRecordingSink? sink;
        lock (_lock)
        {
            sink = _sink;
        }
        if (sink is null)
        {
            return;
        }
        await sink.WriteAsync(result, ct).ConfigureAwait(false);
        lock (_lock)
        {
            if (_sink != sink)
            {
                return;
            }
            // Minutes of footage seen while recording: wall time, since a looping or reconnecting source's timestamps jump.
            _firstFrameMs ??= Stopwatch.GetElapsedTime(_recordingStarted).TotalMilliseconds;
            _recordedMs = Stopwatch.GetElapsedTime(_recordingStarted).TotalMilliseconds - _firstFrameMs.Value;
            if (_recordedMs < _minutes * 60_000 && !sink.Full)
            {
                return;
            }
            if (sink.Full)
            {
                _budgetFrames = sink.Frames;
                _logger.LogInformation("{Stream}: the learning recording reached its disk budget ({Frames} frames)", _streamId, sink.Frames);
            }
            var recorder = _recorder!;
            _recorder = null;
            _sink = null;
            _status = "learning: fitting the model";
            _fitting = Task.Run(() => FitAsync(recorder, _stop.Token));
        }
    }

    private async Task FitAsync(FeatureRecorder recorder, CancellationToken ct)
    {
        try
        {
            recorder.Finish();
            recorder.Dispose();
            Directory.CreateDirectory(_modelsFolder);
            var output = Path.Combine(_modelsFolder, $"{ModelPrefix}{DateTime.UtcNow:yyyyMMdd'T'HHmmss'Z'}.onnx");
            var (exitCode, lastError) = await RunChildAsync(["learn", _recordingFolder, "--out", output, "--model", _frameModelPath, "--provider", "cpu", "--threads", "1"], ct)
                .ConfigureAwait(false);
            if (exitCode != 0 || !File.Exists(output))
            {
                throw new TrainingDataException(lastError ?? $"edge learn ended with exit code {exitCode}");
            }
            Directory.Delete(_recordingFolder, recursive: true);
            lock (_lock)
            {
                Current = output;
                _status = $"learned {Path.GetFileName(output)}";
            }
            _logger.LogInformation("{Stream}: learned its anomaly model {Model}; it is in use from the next frame", _streamId, output);
            Learned?.Invoke(output);
            RemoveOlderModels(_modelsFolder, KeptModels, _streamId, _logger);
        }
        catch (OperationCanceledException)
        {
            RemoveRecording();
        }
        catch (Exception ex)
        {
            RemoveRecording();
            var reason = _budgetFrames is { } frames
                ? string.Create(CultureInfo.InvariantCulture, $"{ex.Message} (the recording stopped at its disk budget, LearnMaxDiskMb {_maxBytes / (1024 * 1024)}, after {frames} frames)")
                : ex.Message;
            lock (_lock)
            {
                _status = $"learning failed: {reason}";
            }
            _logger.LogWarning("{Stream}: learning failed, the stream goes on with {Model}: {Error}", _streamId,
                Current is null ? "no anomaly model" : Path.GetFileName(Current), reason);
        }
        finally
        {
            _budgetFrames = null;
        }
    }

    /// <summary>Deletes the recording folder: a recording is learned from once, or never (learning starts a new one).</summary>
    private void RemoveRecording()
    {
        try
        {
            if (Directory.Exists(_recordingFolder))
            {
                Directory.Delete(_recordingFolder, recursive: true);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _logger.LogWarning("{Stream}: the learning recording {Folder} could not be removed: {Error}", _streamId, _recordingFolder, ex.Message);
        }
    }

    /// <summary>Runs this executable with <paramref name="args"/> under <c>nice</c>; returns its exit code and its last <c>error:</c> line.</summary>
    private static async Task<(int ExitCode, string? LastError)> RunChildAsync(IReadOnlyList<string> args, CancellationToken ct)
    {
        var process = Environment.ProcessPath ?? throw new InvalidOperationException("the path of this executable is unknown");
        var command = new List<string>();
        // Run through `dotnet edge.dll` (a development build): the child is started the same way.
        if (Path.GetFileNameWithoutExtension(process) == "dotnet")
        {
            command.Add(typeof(SiteLearning).Assembly.Location);
        }
        command.AddRange(args);
        var nice = File.Exists("/usr/bin/nice") ? "/usr/bin/nice" : null;
        var start = new ProcessStartInfo(nice ?? process)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (nice is not null)
        {
            start.ArgumentList.Add("-n");
            start.ArgumentList.Add("10");
            start.ArgumentList.Add(process);
        }
        foreach (var a in command)
        {
            start.ArgumentList.Add(a);
        }
        using var child = Process.Start(start) ?? throw new InvalidOperationException("edge learn did not start");
        string? lastError = null;
        var errors = Task.Run(async () =>
        {
            while (await child.StandardError.ReadLineAsync(CancellationToken.None).ConfigureAwait(false) is { } line)
            {
                if (line.StartsWith("error: ", StringComparison.Ordinal))
                {
                    lastError = line["error: ".Length..];
                }
            }
        }, CancellationToken.None);
        var output = child.StandardOutput.ReadToEndAsync(CancellationToken.None);
        try
        {
            await child.WaitForExitAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            child.Kill(entireProcessTree: true);
            throw;
        }
        await Task.WhenAll(errors, output).ConfigureAwait(false);
        return (child.ExitCode, lastError);
    }

    public ValueTask CompleteAsync(CancellationToken ct) => ValueTask.CompletedTask;

    /// <summary>Nothing: the recording goes on across the stream's restarts; <see cref="DisposeAsync"/> ends it.</summary>
    ValueTask IAsyncDisposable.DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>
    /// Stops a child that is fitting, and ends an unfinished recording; either way the recording is removed (the next
    /// start learns from new footage when the stream has no model), with a log line.
    /// </summary>
    public async ValueTask StopAsync()
    {
        var fitting = !_fitting.IsCompleted;
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _fitting.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        bool recording;
        lock (_lock)
        {
            recording = _recorder is not null;
            _recorder?.Dispose();
            _recorder = null;
            _sink = null;
        }
        if (recording || fitting)
        {
            RemoveRecording();
            _logger.LogInformation("{Stream}: learning stopped before it ended ({What}); {Model}", _streamId,
                fitting ? "while fitting the model" : "while recording",
                Current is null ? "the stream has no anomaly model yet and learns again when it next starts" : $"it keeps {Path.GetFileName(Current)}");
        }
        _stop.Dispose();
    }
}
