namespace Edge.Models;

/// <summary>
/// Material to learn from that cannot be used (missing, empty, a single class, features of the wrong size, footage too
/// short or too uniform to calibrate), with a message for the user. Thrown by Training's trainers and by the plain-C#
/// learners that serving runs at a camera site alike.
/// </summary>
public sealed class TrainingDataException(string message) : Exception(message);
