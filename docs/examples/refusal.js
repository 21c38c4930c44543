// facegrid from Node: a call, and the machine-readable details of its refusal (docs/clients.md).
//
//   npm install @grpc/grpc-js @grpc/proto-loader protobufjs
//   node refusal.js [ADDRESS] PHOTO        enrolls PHOTO as subject node-example at ADDRESS (default 127.0.0.1:50051)
//
// Prints one JSON line: the reply, or the refusal's code, message and details (the google.rpc.Status that the server
// sends in the `grpc-status-details-bin` trailer: an ErrorInfo, then facegrid's own message). The .proto files are
// read from FACEGRID_PROTO_DIR, else the repository's proto/ folder.
'use strict';
const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const PROTO = process.env.FACEGRID_PROTO_DIR || path.join(__dirname, '..', '..', 'proto');
const FILES = ['facegrid/v1/gate.proto', 'google/rpc/status.proto', 'google/rpc/error_details.proto'];

// keepCase: fields keep the names the .proto files give them (subject_id, template_id), as facegrid's documents
// and error messages write them; without it proto-loader renames them to camelCase (subjectId).
const definition = protoLoader.loadSync(FILES, {keepCase: true, enums: String, defaults: true, includeDirs: [PROTO]});
const facegrid = grpc.loadPackageDefinition(definition).facegrid.v1;

// The details are google.protobuf.Any messages, decoded by their type URL with the same .proto files.
const types = new protobuf.Root();
types.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : path.join(PROTO, target));
types.loadSync(FILES, {keepCase: true});

function refusalDetails(error) {
  const [trailer] = error.metadata.get('grpc-status-details-bin');
  if (!trailer) return [];
  const status = types.lookupType('google.rpc.Status').decode(trailer);
  return status.details.map((detail) => {
    const type = types.lookupType(detail.type_url.slice(detail.type_url.lastIndexOf('/') + 1));
    return {type: type.fullName.slice(1), ...type.toObject(type.decode(detail.value), {enums: String, defaults: true})};
  });
}

const [address, photo] = process.argv.length > 3 ? process.argv.slice(2, 4) : ['127.0.0.1:50051', process.argv[2]];
const metadata = new grpc.Metadata();
if (process.env.FACEGRID_API_KEY) metadata.set('authorization', `Bearer ${process.env.FACEGRID_API_KEY}`);
const gate = new facegrid.GateService(address, grpc.credentials.createInsecure());
gate.Enroll({subject_id: 'node-example', photos: [fs.readFileSync(photo)]}, metadata, {deadline: Date.now() + 30000},
  (error, reply) => {
    if (error) {
      console.log(JSON.stringify({code: grpc.status[error.code], message: error.details, details: refusalDetails(error)}));
      process.exitCode = 2;
    } else {
      console.log(JSON.stringify({reply}));
    }
    gate.close();
  });
