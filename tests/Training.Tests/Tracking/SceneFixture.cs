using Edge.Tests;
using Edge.Training.Data;

namespace Edge.Training.Tests.Tracking;

/// <summary>One small set of generated multi-person scenes (one training, two test scenes), shared by the tests that read scenes.</summary>
public sealed class SceneFixture : IDisposable
{
    public static readonly MultiPersonScenes.Options Options = new() { TrainScenes = 1, TestScenes = 2, Frames = 150, Seed = 3 };

    public SceneFixture()
    {
        Folder = TestData.NewTempFolder();
        Metadata = MultiPersonScenes.Create(TestData.Vtest, Folder, Options, null, CancellationToken.None);
    }

    public string Folder { get; }

    public MultiPersonScenes.Metadata Metadata { get; }

    public IEnumerable<string> SceneFolders => Metadata.TrainScenes.Concat(Metadata.TestScenes).Select(s => Path.Combine(Folder, s));

    public void Dispose() => Directory.Delete(Folder, recursive: true);
}

[CollectionDefinition(Name)]
public sealed class SceneCollection : ICollectionFixture<SceneFixture>
{
    public const string Name = "generated scenes";
}
