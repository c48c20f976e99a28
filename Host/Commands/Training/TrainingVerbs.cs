using System.CommandLine;
using System.Globalization;
using Edge.Capture;
using Edge.Host.Commands;
using Edge.Models;
using Microsoft.Extensions.Logging;

namespace Edge.Host.Cli;

public static partial class EdgeCli
{
    static partial void AddTrainingVerbs(RootCommand root)
    {
        root.Subcommands.Add(TrainVerb());
        root.Subcommands.Add(EvalVerb());
        root.Subcommands.Add(DataVerb());
    }

    private static readonly Option<int> s_batchSize = new("--batch-size") { Description = "Samples per training step", DefaultValueFactory = _ => 64 };
    private static readonly Option<double> s_learningRate = new("--lr") { Description = "Adam learning rate", DefaultValueFactory = _ => 1e-3 };
    private static readonly Option<int> s_patience = new("--patience") { Description = "Stop after this many epochs without improvement", DefaultValueFactory = _ => 3 };
    private static readonly Option<long> s_seed = new("--seed") { Description = "Seed for weights and shuffling (repeatable runs)", DefaultValueFactory = _ => 1 };
    private static readonly Option<double> s_timeLimit = new("--time-limit") { Description = "Stop before this many minutes pass, keeping the best epoch", DefaultValueFactory = _ => 60 };

    /// <summary>The options every trainer shares, from its command line.</summary>
    private static Edge.Training.TrainOptions TrainOptionsFrom(ParseResult parse, int epochs, double validationFraction = 0.1) => new()
    {
        Epochs = epochs,
        BatchSize = parse.GetValue(s_batchSize),
        LearningRate = parse.GetValue(s_learningRate),
        Patience = parse.GetValue(s_patience),
        Seed = parse.GetValue(s_seed),
        Threads = parse.GetValue(s_threads) ?? 0,
        TimeLimit = TimeSpan.FromMinutes(parse.GetValue(s_timeLimit)),
        ValidationFraction = validationFraction,
    };

    private static Command TrainVerb()
    {
        var data = new Argument<string>("data")
        {
            Description = "Fashion-MNIST/MNIST idx folder (train-images-idx3-ubyte[.gz], ...) or a folder with one subfolder of images per class",
        };
        var output = new Option<string>("--out") { Description = "Model to write (.onnx; its manifest is written beside it)", DefaultValueFactory = _ => "models/cnn.onnx" };
        var epochs = new Option<int>("--epochs") { Description = "Most epochs", DefaultValueFactory = _ => 8 };
        var (batch, learningRate, patience, seed) = (s_batchSize, s_learningRate, s_patience, s_seed);
        var limit = new Option<int>("--limit") { Description = "Use only the first N training images (0 = all)" };
        var size = new Option<int>("--image-size") { Description = "Image folders: resize images to this square size", DefaultValueFactory = _ => 32 };
        var gray = new Option<bool>("--grayscale") { Description = "Image folders: train on grayscale images" };
        var minutes = s_timeLimit;
        var cnn = new Command("cnn", "Train a small CNN from scratch on images, export it as ONNX and check the export's accuracy")
        {
            data, output, epochs, batch, learningRate, patience, seed, limit, size, gray, minutes,
        };
        cnn.SetAction((parse, _) => GuardAsync(parse, CommonOverrides(parse), (context, stop) =>
        {
            var options = TrainOptionsFrom(parse, parse.GetValue(epochs));
            var args = new TrainCommand.CnnArguments(parse.GetValue(data)!, parse.GetValue(output)!, options,
                parse.GetValue(limit), parse.GetValue(size), parse.GetValue(gray));
            return Task.Run(() => TrainCommand.RunCnn(context, args, stop), stop);
        }));
        var task = new Option<string>("--task") { Description = "activity (a folder per class of clips) or anomaly (normal footage only)", Required = true }
            .AcceptOnlyFromAmong("activity", "anomaly");
        var cell = new Option<string>("--cell") { Description = "Recurrent cell", DefaultValueFactory = _ => "gru" }.AcceptOnlyFromAmong("gru", "lstm");
        var window = new Option<int>("--window") { Description = "Frames per window", DefaultValueFactory = _ => 16 };
        var stride = new Option<int>("--stride") { Description = "Frames between window starts", DefaultValueFactory = _ => 4 };
        var hidden = new Option<int>("--hidden") { Description = "Hidden units", DefaultValueFactory = _ => 128 };
        var layers = new Option<int>("--layers") { Description = "Recurrent layers", DefaultValueFactory = _ => 1 };
        var input = new Option<string>("--input")
        {
            Description = "activity: what each step reads, the frame's embedding (frames), its change from the previous frame (changes), " +
                "or one person's steps from edge data tracks (track: a per-track model, served as Tracking:ActivityModel)",
            DefaultValueFactory = _ => "frames",
        }.AcceptOnlyFromAmong("frames", "changes", "track");
        var sequenceData = new Argument<string>("data")
        {
            Description = "anomaly: a video, an embeddings.npy from edge process, or a folder of them; activity: a folder with one subfolder of clips (videos or .npy) per class",
        };
        var sequenceOut = new Option<string>("--out") { Description = "Model to write (.onnx; its manifest is written beside it)", DefaultValueFactory = _ => "models/sequence.onnx" };
        var sequenceEpochs = new Option<int>("--epochs") { Description = "Most epochs", DefaultValueFactory = _ => 30 };
        var sequence = new Command("sequence", "Train a GRU/LSTM over windows of frame embeddings for activity recognition or anomaly detection")
        {
            sequenceData, task, cell, window, stride, hidden, layers, input, sequenceOut, sequenceEpochs, batch, learningRate, patience, seed, minutes,
        };
        sequence.SetAction((parse, _) => GuardAsync(parse, CommonOverrides(parse), (context, stop) =>
        {
            var options = TrainOptionsFrom(parse, parse.GetValue(sequenceEpochs), validationFraction: 0.2);
            var settings = new Edge.Training.SequenceTrainer.Settings(parse.GetValue(window), parse.GetValue(stride),
                parse.GetValue(cell) == "lstm" ? Edge.Training.RecurrentCell.Lstm : Edge.Training.RecurrentCell.Gru,
                parse.GetValue(hidden), parse.GetValue(layers), parse.GetValue(input) == "changes");
            var args = new TrainSequenceCommand.Arguments(parse.GetValue(task)!, parse.GetValue(sequenceData)!, parse.GetValue(sequenceOut)!, settings, options,
                parse.GetValue(input) == "track");
            return Task.Run(() => TrainSequenceCommand.Run(context, args, stop), stop);
        }));
        var benchSteps = new Option<int>("--steps") { Description = "Timed training steps per network (after 5 warm-up steps)", DefaultValueFactory = _ => 50 };
        var benchJson = new Option<string?>("--json") { Description = "Also write the timings to this JSON file" };
        var bench = new Command("bench", "Time training steps of Edge's CNN (batch 64) and GRU (batch 32) in TorchSharp; scripts/bench-train.sh compares PyTorch")
        {
            benchSteps, benchJson,
        };
        bench.SetAction((parse, _) => GuardAsync(parse, CommonOverrides(parse), (context, stop) =>
            Task.Run(() => TrainCommand.Bench(parse.GetValue(s_threads) ?? 0, parse.GetValue(benchSteps), parse.GetValue(benchJson)), stop)));
        var crops = new Argument<string>("data") { Description = "A folder with one subfolder of image crops per class" };
        var headOut = new Option<string>("--out") { Description = "Head to write (.onnx; its manifest is written beside it)", DefaultValueFactory = _ => "models/head.onnx" };
        var headEpochs = new Option<int>("--epochs") { Description = "Most epochs", DefaultValueFactory = _ => 40 };
        var headFeatures = new Option<string>("--features")
        {
            Description = "What the head reads: crop-embedding (each crop through the frame model) or grid-region (the frame's grid pooled under each box: " +
                "no second CNN pass in the object stage; needs a crop set from edge data objects, with its regions.csv and video)",
            DefaultValueFactory = _ => EmbeddingClassifier.CropFeatures,
        };
        headFeatures.AcceptOnlyFromAmong(EmbeddingClassifier.CropFeatures, EmbeddingClassifier.GridFeatures);
        var classifier = new Command("classifier", "Train a classification head on frozen frame-model features of image crops")
        {
            crops, headOut, headEpochs, batch, learningRate, patience, seed, minutes, headFeatures,
        };
        classifier.SetAction((parse, _) => GuardAsync(parse, CommonOverrides(parse), (context, stop) =>
        {
            var options = TrainOptionsFrom(parse, parse.GetValue(headEpochs), validationFraction: 0.2);
            var args = new TrainClassifierCommand.Arguments(parse.GetValue(crops)!, parse.GetValue(headOut)!, options,
                parse.GetValue(headFeatures) == EmbeddingClassifier.GridFeatures);
            return Task.Run(() => TrainClassifierCommand.Run(context, args, stop), stop);
        }));
        var scenesIn = new Argument<string>("scenes") { Description = "Scenes with ground truth (edge data scenes); the training split is used", DefaultValueFactory = _ => TrackingCommands.DefaultScenes };
        var detectorOut = new Option<string>("--out") { Description = "Detector to write (.onnx, YOLOv8 layout)", DefaultValueFactory = _ => "models/person-detector.onnx" };
        var detectorEpochs = new Option<int>("--epochs") { Description = "Most epochs", DefaultValueFactory = _ => 40 };
        var frameStep = new Option<int>("--frame-step") { Description = "Train on every Nth frame of each scene (neighbouring frames are near-duplicates)", DefaultValueFactory = _ => 4 };
        var detectorPatience = new Option<int>("--patience") { Description = "Stop after this many epochs without a lower validation loss (it is noisy from epoch to epoch)", DefaultValueFactory = _ => 5 };
        var detectorBatch = new Option<int>("--batch-size") { Description = "Frames per training step", DefaultValueFactory = _ => 16 };
        var detector = new Command("detector", "Train Edge's person detector (single-stage, anchor-free, YOLOv8 output layout) on the scenes' ground-truth boxes")
        {
            scenesIn, detectorOut, detectorEpochs, frameStep, detectorBatch, learningRate, detectorPatience, seed, minutes,
        };
        detector.SetAction((parse, _) => GuardAsync(parse, CommonOverrides(parse), (context, stop) =>
        {
            if (parse.GetValue(frameStep) < 1 || parse.GetValue(detectorBatch) < 1)
            {
                throw new UsageException("--frame-step and --batch-size must be at least 1");
            }
            var options = TrainOptionsFrom(parse, parse.GetValue(detectorEpochs), validationFraction: 0.1) with
            {
                BatchSize = parse.GetValue(detectorBatch),
                Patience = parse.GetValue(detectorPatience),
            };
            var args = new TrackingCommands.DetectorArguments(parse.GetValue(scenesIn)!, parse.GetValue(detectorOut)!, parse.GetValue(frameStep), options);
            return Task.Run(() => TrackingCommands.TrainDetector(context, args, stop), stop);
        }));
        var train = new Command("train", "Train the models Edge serves") { cnn, classifier, sequence, detector, bench };
        return train;
    }

    private static Command DataVerb()
    {
        var video = new Option<string>("--video") { Description = "Footage to split and inject into", DefaultValueFactory = _ => "data/vtest.avi" };
        var splice = new Option<string>("--splice") { Description = "Other footage spliced in as one of the anomalies", DefaultValueFactory = _ => "data/cup.mp4" };
        var output = new Option<string>("--out") { Description = "Folder for NAME-train.avi, NAME-test.avi and NAME-test.gt.json", DefaultValueFactory = _ => "data/anomaly" };
        var trainFrames = new Option<int>("--train-frames") { Description = "Frames of normal footage kept for training", DefaultValueFactory = _ => 400 };
        var seeds = new Option<string?>("--seeds")
        {
            Description = "Write the evaluation suite instead: one test video per seed (e.g. 0-9, or 100,101), four anomalies each of 20 kinds in three families (appearance, spatial, temporal), boxes where they are; Edge's defaults were chosen on seeds 0-9 without the kinds contrast-loss, glare and stutter, and are reported on seeds 100 and up",
        };
        var anomaly = new Command("anomaly", "Split footage into a normal training part and a test part with injected anomalies and frame-level ground truth")
        {
            video, splice, output, trainFrames, seeds,
        };
        anomaly.SetAction((parse, _) => GuardAsync(parse, CommonOverrides(parse), (context, stop) => Task.Run(() =>
        {
            var (source, other) = (parse.GetValue(video)!, parse.GetValue(splice)!);
            var suiteSeeds = parse.GetValue(seeds) is { } list ? ParseSeeds(list).ToList() : null; // all of them checked before any suite is written
            foreach (var path in new[] { source, other })
            {
                if (!File.Exists(path))
                {
                    throw new Edge.Capture.CaptureException(Edge.Capture.CaptureError.NotFound, $"video file not found: {path}");
                }
            }
            if (suiteSeeds is not null)
            {
                foreach (var seed in suiteSeeds)
                {
                    stop.ThrowIfCancellationRequested();
                    var suite = Edge.Training.Data.AnomalyInjector.CreateSuite(source, other, parse.GetValue(output)!, parse.GetValue(trainFrames), seed);
                    Spectre.Console.AnsiConsole.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{suite.Video}: {string.Join(", ", suite.Anomalies.Select(a => $"{a.Kind} {a.StartFrame}-{a.EndFrame}"))}"));
                }
                return ExitCodes.Ok;
            }
            var truth = Edge.Training.Data.AnomalyInjector.Create(source, other, parse.GetValue(output)!, parse.GetValue(trainFrames));
            foreach (var a in truth.Anomalies)
            {
                Spectre.Console.AnsiConsole.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{a.Kind,-15} frames {a.StartFrame}-{a.EndFrame}"));
            }
            Spectre.Console.AnsiConsole.WriteLine($"{truth.Video}: {truth.Frames} frames, {truth.Anomalies.Length} injected anomalies; ground truth and videos in {Path.GetFullPath(parse.GetValue(output)!)}");
            return ExitCodes.Ok;
        }, stop)));
        var objectsVideo = new Option<string>("--video") { Description = "Footage with people walking past a fixed camera", DefaultValueFactory = _ => "data/vtest.avi" };
        var objectsOut = new Option<string>("--out") { Description = "Folder for train/ and test/, one subfolder per class, crops.json and regions.csv (each crop's frame and box)", DefaultValueFactory = _ => ObjectCropsCommand.DefaultFolder };
        var every = new Option<int>("--every") { Description = "Take crops from every Nth frame (neighbouring frames are near-duplicates)", DefaultValueFactory = _ => 4 };
        var testFraction = new Option<double>("--test-fraction") { Description = "Share of the video, from its end, held out as the test split", DefaultValueFactory = _ => 0.25 };
        var objects = new Command("objects", "Build a labeled crop set (person, background) for the object head: motion regions confirmed by OpenCV's HOG people detector, still squares as background, the end of the video held out")
        {
            objectsVideo, objectsOut, every, testFraction,
        };
        objects.SetAction((parse, _) => GuardAsync(parse, CommonOverrides(parse), (context, stop) => Task.Run(() =>
        {
            var (n, fraction) = (parse.GetValue(every), parse.GetValue(testFraction));
            if (n < 1 || fraction <= 0 || fraction >= 1)
            {
                throw new UsageException("--every must be at least 1 and --test-fraction between 0 and 1");
            }
            var summary = ObjectCropsCommand.Run(context, new ObjectCropsCommand.Arguments(parse.GetValue(objectsVideo)!, parse.GetValue(objectsOut)!, n, fraction), stop);
            Spectre.Console.AnsiConsole.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"crop set {Path.GetFullPath(parse.GetValue(objectsOut)!)}: train {summary.Train.Person} person, {summary.Train.Background} background; test (frames {summary.TestStartFrame}-{summary.Frames - 1}) {summary.Test.Person} person, {summary.Test.Background} background"));
            return ExitCodes.Ok;
        }, stop)));
        var background = new Option<string>("--video") { Description = "Footage the figures are drawn over", DefaultValueFactory = _ => "data/vtest.avi" };
        var activityOut = new Option<string>("--out") { Description = "Folder for train/<class>/*.avi, test/<class>/*.avi and activity.json", DefaultValueFactory = _ => "data/activity" };
        var defaults = new Edge.Training.Data.ActivityClips.Options();
        var clips = new Option<int>("--clips-per-class") { Description = "Training clips per class", DefaultValueFactory = _ => defaults.TrainClipsPerClass };
        var testClips = new Option<int>("--test-clips-per-class") { Description = "Test clips per class", DefaultValueFactory = _ => defaults.TestClipsPerClass };
        var frames = new Option<int>("--frames") { Description = "Frames per clip (10 fps)", DefaultValueFactory = _ => defaults.Frames };
        var dataSeed = new Option<int>("--seed") { Description = "Seed: the same seed writes the same clips", DefaultValueFactory = _ => defaults.Seed };
        var activity = new Command("activity", "Clips of animated figures (walk, run, fall, wave, stand) over real footage, where one frame cannot tell the classes apart")
        {
            background, activityOut, clips, testClips, frames, dataSeed,
        };
        activity.SetAction((parse, _) => GuardAsync(parse, CommonOverrides(parse), (context, stop) => Task.Run(() =>
        {
            if (parse.GetValue(frames) < 8 || parse.GetValue(clips) < 1 || parse.GetValue(testClips) < 1)
            {
                throw new UsageException("--frames must be at least 8, and --clips-per-class and --test-clips-per-class at least 1");
            }
            return DataActivityCommand.Run(context, parse.GetValue(background)!, parse.GetValue(activityOut)!, new Edge.Training.Data.ActivityClips.Options
            {
                TrainClipsPerClass = parse.GetValue(clips),
                TestClipsPerClass = parse.GetValue(testClips),
                Frames = parse.GetValue(frames),
                Seed = parse.GetValue(dataSeed),
            }, stop);
        }, stop)));
        var sceneDefaults = new Edge.Training.Data.MultiPersonScenes.Options();
        var sceneVideo = new Option<string>("--video") { Description = "Footage whose still frames are the scenes' backgrounds", DefaultValueFactory = _ => "data/vtest.avi" };
        var scenesOut = new Option<string>("--out") { Description = "Folder for the scenes and scenes.json", DefaultValueFactory = _ => TrackingCommands.DefaultScenes };
        var trainScenes = new Option<int>("--train-scenes") { Description = "Training scenes (the person detector needs many: with 8 it learns those scenes, with 32 it finds people in new ones)", DefaultValueFactory = _ => 32 };
        var testScenes = new Option<int>("--test-scenes") { Description = "Test scenes (backgrounds from a part of the footage the training scenes do not use)", DefaultValueFactory = _ => sceneDefaults.TestScenes };
        var sceneFrames = new Option<int>("--frames") { Description = "Frames per scene (10 fps)", DefaultValueFactory = _ => sceneDefaults.Frames };
        var sceneSeed = new Option<int>("--seed") { Description = "Seed: the same seed writes the same scenes", DefaultValueFactory = _ => sceneDefaults.Seed };
        var scenes = new Command("scenes", "Multi-person scenes with MOTChallenge ground truth: animated people over real backgrounds who cross, hide each other, enter and leave, with lines and a zone and their true counts")
        {
            sceneVideo, scenesOut, trainScenes, testScenes, sceneFrames, sceneSeed,
        };
        scenes.SetAction((parse, _) => GuardAsync(parse, CommonOverrides(parse), (context, stop) => Task.Run(() =>
        {
            var (train, test, count) = (parse.GetValue(trainScenes), parse.GetValue(testScenes), parse.GetValue(sceneFrames));
            if (train < 0 || test < 0 || train + test == 0 || count < 10)
            {
                throw new UsageException("--train-scenes and --test-scenes must not be negative, at least one scene is needed, and --frames must be at least 10");
            }
            return TrackingCommands.DataScenes(context, parse.GetValue(sceneVideo)!, parse.GetValue(scenesOut)!,
                sceneDefaults with { TrainScenes = train, TestScenes = test, Frames = count, Seed = parse.GetValue(sceneSeed) }, stop);
        }, stop)));
        var trackDefaults = new Edge.Training.Data.TrackWindows.Options();
        var tracksScenes = new Argument<string>("scenes") { Description = "Scenes with ground truth (edge data scenes)", DefaultValueFactory = _ => TrackingCommands.DefaultScenes };
        var tracksOut = new Option<string>("--out") { Description = "Folder for train/<activity>/*.npy, test/<activity>/*.npy, frames/ (the same windows' whole-frame embeddings) and tracks.json", DefaultValueFactory = _ => "data/tracks" };
        var trackFrames = new Option<int>("--frames") { Description = "Steps per window: the per-track model's window", DefaultValueFactory = _ => trackDefaults.Frames };
        var trackStride = new Option<int>("--stride") { Description = "Frames between the starts of one person's windows", DefaultValueFactory = _ => trackDefaults.Stride };
        var tracks = new Command("tracks", "Per-track activity windows from the scenes: each person's steps (the frame model's grid under their box and the box's motion) while they do one thing")
        {
            tracksScenes, tracksOut, trackFrames, trackStride,
        };
        tracks.SetAction((parse, _) => GuardAsync(parse, CommonOverrides(parse), (context, stop) => Task.Run(() =>
        {
            if (parse.GetValue(trackFrames) < 2 || parse.GetValue(trackStride) < 1)
            {
                throw new UsageException("--frames must be at least 2 and --stride at least 1");
            }
            return DataTracksCommand.Run(context, parse.GetValue(tracksScenes)!, parse.GetValue(tracksOut)!,
                trackDefaults with { Frames = parse.GetValue(trackFrames), Stride = parse.GetValue(trackStride) }, stop);
        }, stop)));
        return new Command("data", "Build training and test material from real footage") { anomaly, objects, activity, scenes, tracks };
    }

    /// <summary>"0-9" or "100,101,105-107".</summary>
    private static IEnumerable<int> ParseSeeds(string text)
    {
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var range = part.Split('-');
            if (range.Length is < 1 or > 2 || !range.All(r => int.TryParse(r, CultureInfo.InvariantCulture, out var n) && n >= 0)
                || (range.Length == 2 && int.Parse(range[1], CultureInfo.InvariantCulture) < int.Parse(range[0], CultureInfo.InvariantCulture)))
            {
                throw new UsageException($"--seeds: '{part}' is not a seed or a range of seeds (e.g. 0-9)");
            }
            var from = int.Parse(range[0], CultureInfo.InvariantCulture);
            var to = int.Parse(range[^1], CultureInfo.InvariantCulture);
            for (var seed = from; seed <= to; seed++)
            {
                yield return seed;
            }
        }
    }

    private static Command EvalVerb()
    {
        var model = new Argument<string>("model") { Description = "Model to evaluate (.onnx with its manifest)" };
        var data = new Argument<string>("data")
        {
            Description = "Classifiers: idx folder or a folder per class; activity: a folder per class of clips; anomaly: normal footage (video, .npy or a folder)",
        };
        var anomalous = new Option<string?>("--anomalous") { Description = "Anomaly models: footage whose windows count as anomalous" };
        var output = new Option<string?>("--out") { Description = "Folder for plots and eval.json (default: out/eval/<model name>)" };
        var command = new Command("eval", "Evaluate a trained model: accuracy and confusion matrix, or ROC AUC for anomaly scores, with PNG plots")
        {
            model, data, anomalous, output,
        };
        var testVideos = new Argument<string[]>("videos") { Description = "Test videos with injected anomalies and NAME.gt.json beside each (edge data anomaly)", Arity = ArgumentArity.OneOrMore };
        EdgeCli.RejectOptionLikeInputs(testVideos);
        var groundTruth = new Option<string?>("--gt") { Description = "Ground-truth file, with one video (default: the video's name with .gt.json)" };
        var anomalyModel = new Option<string>("--anomaly-model") { Description = "Anomaly model (edge learn, or edge train sequence --task anomaly)", Required = true };
        var normalVideo = new Option<string?>("--normal") { Description = "The normal training footage: adds the nearest-normal-frame reference" };
        var anomalyOut = new Option<string?>("--out") { Description = "Folder for the timelines and eval-anomaly.json" };
        var anomalyEval = new Command("anomaly", "Frame ROC AUC overall, per kind and per family, localisation, and event precision/recall of an anomaly model against ground truth, beside references measured in the same run")
        {
            testVideos, groundTruth, anomalyModel, normalVideo, anomalyOut,
        };
        anomalyEval.Validators.Add(r =>
        {
            if (r.GetValue(testVideos) is { Length: > 1 } && r.GetValue(groundTruth) is not null)
            {
                r.AddError("--gt names one ground truth: give it with one video (several videos each need NAME.gt.json beside them)");
            }
        });
        anomalyEval.SetAction((parse, _) => GuardAsync(parse, CommonOverrides(parse), (context, stop) =>
        {
            var videos = parse.GetValue(testVideos)!;
            return EvalAnomalyCommand.RunAsync(context, new EvalAnomalyCommand.Arguments(videos, parse.GetValue(groundTruth), parse.GetValue(anomalyModel)!,
                parse.GetValue(normalVideo), parse.GetValue(anomalyOut)), stop);
        }));
        command.Subcommands.Add(anomalyEval);
        var activityTest = new Argument<string>("data") { Description = "Test clips: a folder with one subfolder per class (edge data activity's test/)" };
        var activityModel = new Option<string>("--activity-model") { Description = "Activity model (sequence-activity)", Required = true };
        var activityTrain = new Option<string>("--train") { Description = "Training clips, a folder per class, for the single-frame baseline (edge data activity's train/)", Required = true };
        var activityOut = new Option<string?>("--out") { Description = "Folder for confusion-model.png, confusion-baseline.png and eval.json (default: out/eval/<model name>-activity)" };
        var baselineEpochs = new Option<int>("--baseline-epochs") { Description = "Most epochs for the single-frame baseline", DefaultValueFactory = _ => 30 };
        var activityEval = new Command("activity", "Window accuracy and confusion matrix of an activity model beside a single-frame classifier trained on the same embeddings")
        {
            activityTest, activityModel, activityTrain, activityOut, baselineEpochs, s_seed,
        };
        activityEval.SetAction((parse, _) => GuardAsync(parse, CommonOverrides(parse), (context, stop) =>
        {
            var baseline = new Edge.Training.TrainOptions
            {
                Epochs = parse.GetValue(baselineEpochs),
                Patience = 5,
                Seed = parse.GetValue(s_seed),
                Threads = parse.GetValue(s_threads) ?? 0,
            };
            var args = new EvalActivityCommand.Arguments(parse.GetValue(activityTest)!, parse.GetValue(activityTrain)!, parse.GetValue(activityModel)!,
                parse.GetValue(activityOut), baseline);
            return Task.Run(() => EvalActivityCommand.Run(context, args, stop), stop);
        }));
        command.Subcommands.Add(activityEval);
        var trackScenes = new Argument<string>("scenes") { Description = "Scenes with ground truth (edge data scenes)", DefaultValueFactory = _ => TrackingCommands.DefaultScenes };
        var split = new Option<string>("--split") { Description = "Which scenes: test (never trained or tuned on) or train", DefaultValueFactory = _ => "test" }.AcceptOnlyFromAmong("test", "train");
        var detectorModel = new Option<string?>("--detector") { Description = "A detector in the YOLO layout (edge train detector, or a YOLOv5/v8 ONNX export): measured beside motion regions and jittered ground truth" };
        var minScore = new Option<float>("--min-score") { Description = "Detector boxes below this score are dropped before tracking", DefaultValueFactory = _ => 0.1f };
        var trackOut = new Option<string?>("--out") { Description = "Folder for eval-tracking.json and each box source's MOTChallenge results" };
        var trackActivity = new Option<string?>("--activity-model") { Description = "A per-track activity model (edge train sequence --input track): each source's tracks are labelled as served and judged against what the people did" };
        var trackingEval = new Command("tracking", "MOTA, IDF1, ID switches, fragmentation, detection AP and line and zone counts on the scenes, for each box source through the pipeline's tracker")
        {
            trackScenes, split, detectorModel, minScore, trackOut, trackActivity,
        };
        trackingEval.SetAction((parse, _) => GuardAsync(parse, CommonOverrides(parse), (context, stop) =>
        {
            var score = parse.GetValue(minScore);
            if (score is <= 0 or > 1)
            {
                throw new UsageException("--min-score must be in (0, 1]");
            }
            var args = new TrackingCommands.EvalArguments(parse.GetValue(trackScenes)!, parse.GetValue(split)!, parse.GetValue(detectorModel), score, parse.GetValue(trackOut),
                parse.GetValue(trackActivity));
            return Task.Run(() => TrackingCommands.EvalTracking(context, args, stop), stop);
        }));
        command.Subcommands.Add(trackingEval);
        command.SetAction((parse, _) => GuardAsync(parse, CommonOverrides(parse), (context, stop) =>
            Task.Run(() => EvalCommand.Run(context, new EvalCommand.Arguments(parse.GetValue(model)!, parse.GetValue(data)!,
                parse.GetValue(anomalous), parse.GetValue(output)), stop), stop)));
        return command;
    }
}
