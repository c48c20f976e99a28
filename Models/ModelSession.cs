using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace Edge.Models;

/// <summary>
/// An ONNX Runtime session with the provider it actually runs on. Owns the session; dispose it to free the model's
/// native memory.
/// </summary>
public sealed class ModelSession : IDisposable
{
    internal ModelSession(InferenceSession session, string path, ExecutionProvider provider, string? fallbackReason)
    {
        Session = session;
        Path = path;
        Provider = provider;
        FallbackReason = fallbackReason;
    }

    public InferenceSession Session { get; }

    public string Path { get; }

    /// <summary>The provider that runs the model: Cuda or Cpu, never Auto.</summary>
    public ExecutionProvider Provider { get; }

    /// <summary>Why CUDA was not used when Auto was asked for; null otherwise.</summary>
    public string? FallbackReason { get; }

    /// <summary>
    /// Opens <paramref name="modelPath"/> on the provider the options ask for. Auto tries CUDA and falls back to the
    /// CPU, logging which one runs; Cuda on a machine that cannot run it is a <see cref="ModelException"/>.
    /// </summary>
    public static ModelSession Open(string modelPath, ModelOptions options, ILogger logger)
    {
        if (!File.Exists(modelPath))
        {
            throw new ModelException(ModelError.NotFound, $"model not found: {modelPath}");
        }
        string? fallbackReason = null;
        if (options.Provider is ExecutionProvider.Auto or ExecutionProvider.Cuda)
        {
            // ONNX Runtime reports a CUDA provider that cannot load itself, in coloured lines on stderr; the one line below
            // says it instead, with the missing library that ONNX Runtime's exception leaves out.
            var environment = OrtEnv.Instance();
            var logLevel = environment.EnvLogLevel;
            environment.EnvLogLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL;
            try
            {
                var cuda = Create(modelPath, options, useCuda: true);
                logger.LogInformation("Model {Model} runs on CUDA device {Device}", System.IO.Path.GetFileName(modelPath), options.DeviceId);
                return new ModelSession(cuda, modelPath, ExecutionProvider.Cuda, null);
            }
            catch (Exception ex) when (ex is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
            {
                fallbackReason = ex is EntryPointNotFoundException
                    ? "this build has the CPU-only ONNX Runtime; build with -p:OrtFlavor=Gpu for CUDA"
                    : CudaProviderLoadFailure() ?? FirstLine(ex.Message);
                if (options.Provider == ExecutionProvider.Cuda)
                {
                    throw new ModelException(ModelError.ProviderUnavailable,
                        $"CUDA was requested but cannot run here: {fallbackReason} (use --provider cpu or auto)", ex);
                }
            }
            finally
            {
                environment.EnvLogLevel = logLevel;
            }
        }
        var cpu = Create(modelPath, options, useCuda: false);
        if (fallbackReason is null)
        {
            logger.LogInformation("Model {Model} runs on the CPU with {Threads} threads", System.IO.Path.GetFileName(modelPath), ThreadsText(options));
        }
        else
        {
            logger.LogWarning("CUDA is not available ({Reason}); model {Model} runs on the CPU with {Threads} threads",
                fallbackReason, System.IO.Path.GetFileName(modelPath), ThreadsText(options));
        }
        return new ModelSession(cpu, modelPath, ExecutionProvider.Cpu, fallbackReason);
    }

    private static string ThreadsText(ModelOptions options) =>
        options.IntraOpThreads == 0 ? $"{Environment.ProcessorCount} (one per core)" : options.IntraOpThreads.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static InferenceSession Create(string modelPath, ModelOptions options, bool useCuda)
    {
        using var sessionOptions = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = options.IntraOpThreads,
            InterOpNumThreads = options.InterOpThreads,
        };
        if (useCuda)
        {
            if (!CudaInThisBuild)
            {
                // The CPU package: nothing to try (and its CUDA entry points are missing).
                throw new EntryPointNotFoundException("CUDAExecutionProvider is not in this build");
            }
            using var cuda = new OrtCUDAProviderOptions();
            cuda.UpdateOptions(CudaProviderOptions(options));
            sessionOptions.AppendExecutionProvider_CUDA(cuda);
        }
        try
        {
            return new InferenceSession(modelPath, sessionOptions);
        }
        catch (OnnxRuntimeException ex) when (!useCuda)
        {
            throw new ModelException(ModelError.Invalid, $"model {modelPath} cannot be loaded: {FirstLine(ex.Message)}", ex);
        }
    }

    /// <summary>Whether this build's ONNX Runtime has the CUDA provider (the GPU package), whether or not a GPU is here.</summary>
    public static bool CudaInThisBuild => OrtEnv.Instance().GetAvailableProviders().Contains("CUDAExecutionProvider");

    /// <summary>The CUDA provider's options from <paramref name="options"/>, by ONNX Runtime's names.</summary>
    public static Dictionary<string, string> CudaProviderOptions(ModelOptions options)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["device_id"] = options.DeviceId.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["cudnn_conv_algo_search"] = options.CudnnConvAlgoSearch switch
            {
                CudnnSearch.Heuristic => "HEURISTIC",
                CudnnSearch.Default => "DEFAULT",
                _ => "EXHAUSTIVE",
            },
        };
        if (options.CudaPreferNhwc)
        {
            values["prefer_nhwc"] = "1";
        }
        return values;
    }

    private static string FirstLine(string text) => text.Split('\n', 2)[0].Trim();

    /// <summary>
    /// Why ONNX Runtime's CUDA provider library (beside libonnxruntime.so: the executable's folder in a self-contained
    /// bundle, runtimes/linux-x64/native in a build) cannot load, e.g. "libcublasLt.so.13: cannot open shared object
    /// file"; null when it is absent or loads. Called only after ONNX Runtime failed to load it.
    /// </summary>
    private static string? CudaProviderLoadFailure()
    {
        const string provider = "libonnxruntime_providers_cuda.so";
        var path = new[] { AppContext.BaseDirectory, System.IO.Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native") }
            .Select(folder => System.IO.Path.Combine(folder, provider)).FirstOrDefault(File.Exists);
        if (path is null)
        {
            return null;
        }
        try
        {
            System.Runtime.InteropServices.NativeLibrary.Free(System.Runtime.InteropServices.NativeLibrary.Load(path));
            return null;
        }
        catch (DllNotFoundException ex)
        {
            var missing = System.Text.RegularExpressions.Regex.Match(ex.Message, @"lib[\w.+-]+\.so[.\d]*: cannot open shared object file");
            return missing.Success ? $"{provider} cannot load: {missing.Value}; CUDA 13 and cuDNN 9 must be on the library path" : null;
        }
    }

    public void Dispose() => Session.Dispose();
}
