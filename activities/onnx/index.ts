/** ONNX graphs sluice writes itself: the runtime probe and the export of trained models. */
export { exportModelToOnnx, NUMERIC_INPUT, ONNX_EXPORT_OPSET } from './trainedModel';
export { onnxFeeds } from './feeds';
export { OnnxFormatError, readOnnxMetadata, withSluiceMetadata } from './metadata';
export { buildAddModel } from './tinyModel';
export { ModelSignatureError, readModelSignature, rowSchema, signatureMismatch, type ModelSignature } from './signature';
